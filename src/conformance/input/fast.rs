//! A fast reader for the plain YAML most manifests are written in, so that `check` does not pay a full
//! YAML parser for every document. Pure.
//!
//! It reads block mappings and sequences indented with spaces, single-line plain and quoted scalars, flow
//! mappings and sequences on one line (`{app: web}`, `[ALL]`) and literal block scalars (`|`, `|-`). On
//! anything else — tabs, CRs, anchors, aliases, tags, folded or multi-line scalars, escapes, duplicate or
//! unusual keys, deep nesting, anything that might be an error — it gives up (`None`) and the document is
//! parsed by serde-saphyr as before. What a plain scalar means (a number, a boolean, null or a string) is
//! decided by serde-saphyr itself, unless the scalar starts with a letter and is no special word: the
//! value is then the same as serde-saphyr's by construction. The answers are kept per thread, as the same
//! scalars (`100m`, `8080`, `true`) come back in every document.

use std::borrow::Cow;
use std::cell::RefCell;

use hashbrown::HashMap;

use serde_json::{Map, Value};

use super::parse::options;

/// Nesting deeper than this is left to serde-saphyr (and its budget).
const MAX_NESTING: usize = 64;
/// The most distinct scalars kept per thread.
const MAX_CACHED: usize = 4096;

thread_local! {
    static RESOLVED: RefCell<HashMap<String, Value>> = RefCell::new(HashMap::new());
}

/// The document as serde-saphyr would read it, when the fast reader is sure of it.
pub(super) fn parse(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    if memchr::memchr2(b'\t', b'\r', bytes).is_some() {
        return None;
    }
    let mut p = Reader {
        ends_with_newline: text.ends_with('\n'),
        text,
        pos: 0,
        virt: None,
        peeked: None,
        item_key: None,
        depth: 0,
    };
    let (indent, _) = p.peek()?;
    let value = p.block(indent)?;
    // Nothing may follow the top-level node.
    p.peek().is_none().then_some(value)
}

/// A cursor over a document's lines (as `str::lines` gives them: there is no CR).
struct Reader<'a> {
    text: &'a str,
    /// Whether the last line has its line break (a literal block scalar at the end keeps it or not).
    ends_with_newline: bool,
    /// Where the current raw line starts.
    pos: usize,
    /// The rest of the current line after a `- ` (its column and text), read as a line of its own.
    virt: Option<(usize, &'a str)>,
    /// The last line `peek` found: its start, column and text, and where the next line starts.
    peeked: Option<(usize, (usize, &'a str), usize)>,
    /// The entry `sequence` found after a `- ` (the text after it, the key and the rest), so that `mapping`
    /// does not read the same key again.
    item_key: Option<ItemKey<'a>>,
    depth: usize,
}

/// A line's text with the key and rest [`key_of`] found in it.
type ItemKey<'a> = (&'a str, Cow<'a, str>, &'a str);

impl<'a> Reader<'a> {
    /// The next line with content (column, text without indentation and trailing spaces); blank and
    /// comment lines are skipped.
    fn peek(&mut self) -> Option<(usize, &'a str)> {
        if let Some(v) = self.virt {
            return Some(v);
        }
        if let Some((pos, found, _)) = self.peeked
            && pos == self.pos
        {
            return Some(found);
        }
        while let Some((line, next)) = self.line_at(self.pos) {
            let content = trim_start_spaces(line);
            let column = line.len() - content.len();
            let content = trim_end_spaces(content);
            if content.is_empty() || content.starts_with('#') {
                self.pos = next;
                continue;
            }
            self.peeked = Some((self.pos, (column, content), next));
            return Some((column, content));
        }
        None
    }

    /// The line starting at `pos` and where the next one starts; `None` at the end.
    fn line_at(&self, pos: usize) -> Option<(&'a str, usize)> {
        let rest = self.text.get(pos..).filter(|r| !r.is_empty())?;
        Some(match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(end) => (&rest[..end], pos + end + 1),
            None => (rest, self.text.len()),
        })
    }

    fn advance(&mut self) {
        self.virt = None;
        self.pos = match self.peeked {
            // The line `peek` found: its end is known.
            Some((pos, _, next)) if pos == self.pos => next,
            _ => self
                .line_at(self.pos)
                .map_or(self.text.len(), |(_, next)| next),
        };
    }

    /// The block node (mapping or sequence) whose first line is the next one, at `column`.
    fn block(&mut self, column: usize) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return None;
        }
        let (_, text) = self.peek()?;
        // A lone scalar (a top-level document of one scalar, or a multi-line one) is not for us: `mapping`
        // gives up on a first line that is no entry.
        let value = if is_item(text) {
            self.sequence(column)
        } else {
            self.mapping(column)
        };
        self.depth -= 1;
        value
    }

    fn mapping(&mut self, column: usize) -> Option<Value> {
        let mut map = Map::new();
        while let Some((col, text)) = self.peek() {
            if col < column {
                break;
            }
            if col > column || is_item(text) {
                return None;
            }
            let (key, rest) = match self.item_key.take() {
                Some((line, key, rest)) if std::ptr::eq(line, text) => (key, rest),
                _ => key_of(text)?,
            };
            let key = key.into_owned();
            let value = if rest.is_empty() {
                self.advance();
                match self.peek() {
                    Some((c, _)) if c > column => self.block(c)?,
                    Some((c, t)) if c == column && is_item(t) => self.sequence(c)?,
                    _ => Value::Null,
                }
            } else {
                self.inline(column, rest)?
            };
            if map.insert(key, value).is_some() {
                return None;
            }
        }
        Some(Value::Object(map))
    }

    fn sequence(&mut self, column: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some((col, text)) = self.peek() {
            if col < column || (col == column && !is_item(text)) {
                break;
            }
            if col > column {
                return None;
            }
            let rest = trim_start_spaces(&text[1..]);
            let value = if rest.is_empty() || rest.starts_with('#') {
                self.advance();
                match self.peek() {
                    Some((c, _)) if c > column => self.block(c)?,
                    _ => Value::Null,
                }
            } else if is_item(rest) || {
                self.item_key = key_of(rest).map(|(key, after)| (rest, key, after));
                self.item_key.is_some()
            } {
                let at = column + (text.len() - rest.len());
                self.virt = Some((at, rest));
                self.block(at)?
            } else {
                self.inline(column, rest)?
            };
            items.push(value);
        }
        Some(Value::Array(items))
    }

    /// A value on the same line as its key or `- ` (`rest`), inside a node at `column`; the line is
    /// consumed, and a literal block scalar's lines with it.
    fn inline(&mut self, column: usize, rest: &'a str) -> Option<Value> {
        let value = match rest.as_bytes()[0] {
            b'|' => {
                let keep_newline = match strip_comment(&rest[1..]) {
                    "" => true,
                    "-" => false,
                    _ => return None,
                };
                self.advance();
                return self.literal(column, keep_newline);
            }
            b'"' | b'\'' => {
                let (s, after) = quoted(rest)?;
                if !strip_comment(after).is_empty() {
                    return None;
                }
                Value::String(s)
            }
            b'[' | b'{' => {
                let mut flow = Flow { text: rest, at: 0 };
                let v = flow.node(0)?;
                if !strip_comment(&flow.text[flow.at..]).is_empty() {
                    return None;
                }
                v
            }
            _ => plain(strip_comment(rest))?,
        };
        self.advance();
        // A more indented line after a scalar would continue it (a multi-line scalar): not for us.
        match self.peek() {
            Some((c, _)) if c > column => None,
            _ => Some(value),
        }
    }

    /// The lines of a literal block scalar after its header, inside a node at `column`.
    fn literal(&mut self, column: usize, keep_newline: bool) -> Option<Value> {
        let (first, _) = self.line_at(self.pos)?;
        let indent = first.len() - trim_start_spaces(first).len();
        if indent <= column || first.trim().is_empty() {
            return None;
        }
        // Its lines first, then the text in a string of its size (kept in the value as it is).
        let begin = self.pos;
        let mut size = 0;
        while let Some((line, next)) = self.line_at(self.pos) {
            let content = trim_start_spaces(line);
            if !content.is_empty() && line.len() - content.len() < indent {
                break;
            }
            size += line.get(indent..).map_or(0, str::len) + 1;
            self.pos = next;
        }
        let mut out = String::with_capacity(size);
        let block = self.text.get(begin..self.pos).unwrap_or_default();
        for line in block.lines() {
            out.push_str(line.get(indent..).unwrap_or_default());
            out.push('\n');
        }
        if self.pos == self.text.len() && !self.ends_with_newline {
            return None;
        }
        // Clip: one line break at the end (none with `|-`), trailing blank lines dropped.
        let trimmed = out.trim_end_matches(['\n', ' ']).len();
        if out[..trimmed].ends_with(' ') || out[trimmed..].contains(' ') {
            // Trailing spaces on (blank) lines: left to the full parser.
            return None;
        }
        out.truncate(trimmed);
        if keep_newline {
            out.push('\n');
        }
        Some(Value::String(out))
    }
}

/// Whether a line is a sequence item (`- x` or a lone `-`).
fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// A mapping entry's key and the rest of its line (comment dropped, possibly empty).
fn key_of(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let (key, rest) = if let Some(q) = text.strip_prefix(['"', '\'']).map(|_| text) {
        let (key, after) = quoted(q)?;
        (Cow::Owned(key), after.strip_prefix(':')?)
    } else {
        // A simple key: a letter, then letters, digits and `_-./` up to its colon (one pass, no search of
        // the whole line for the colon).
        let bytes = text.as_bytes();
        if !bytes.first()?.is_ascii_alphabetic() {
            return None;
        }
        let end = bytes.iter().position(|&b| !KEY_BYTE[usize::from(b)])?;
        if bytes[end] != b':' {
            return None;
        }
        let key = &text[..end];
        if special_word(key) {
            return None;
        }
        (Cow::Borrowed(key), &text[end + 1..])
    };
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((key, strip_comment(rest)))
}

/// The bytes of a simple key: ASCII letters and digits, `_`, `-`, `.` and `/` (a table, one load per byte).
static KEY_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/');
        b += 1;
    }
    table
};

/// `text` without its comment (` #…`) and surrounding spaces.
fn strip_comment(text: &str) -> &str {
    let text = trim_spaces(text);
    if text.starts_with('#') {
        return "";
    }
    comment_start(text).map_or(text, |i| trim_end_spaces(&text[..i]))
}

/// Where the first ` #` in `text` is (`str::find(" #")` without building a searcher for every scalar).
fn comment_start(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    if b.len() > LONG {
        return memchr::memchr_iter(b'#', b)
            .find(|&i| i > 0 && b[i - 1] == b' ')
            .map(|i| i - 1);
    }
    b.windows(2).position(|w| w == b" #")
}

/// From this length on, a scalar is searched with memchr; shorter ones byte by byte (most keys and values
/// are a few bytes, where setting up a vectorised search costs more than it saves).
const LONG: usize = 64;

/// `text` without leading and trailing spaces (`str::trim_matches(' ')`, on bytes).
fn trim_spaces(text: &str) -> &str {
    trim_end_spaces(trim_start_spaces(text))
}

/// `text` without leading spaces (`str::trim_start_matches(' ')`, on bytes).
fn trim_start_spaces(text: &str) -> &str {
    let start = text
        .as_bytes()
        .iter()
        .position(|&b| b != b' ')
        .unwrap_or(text.len());
    &text[start..]
}

/// `text` without trailing spaces (`str::trim_end_matches(' ')`, on bytes).
fn trim_end_spaces(text: &str) -> &str {
    let end = text
        .as_bytes()
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(0, |i| i + 1);
    &text[..end]
}

/// Where the first `: ` in `text` is.
fn colon_space(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    if b.len() > LONG {
        return memchr::memchr_iter(b':', b).find(|&i| b.get(i + 1) == Some(&b' '));
    }
    b.windows(2).position(|w| w == b": ")
}

/// A quoted scalar at the start of `text` (none with escapes) and what follows.
fn quoted(text: &str) -> Option<(String, &str)> {
    let quote = text.chars().next()?;
    let body = &text[1..];
    if quote == '"' {
        let end = memchr::memchr(b'"', body.as_bytes())?;
        // An escape (`\"`, `\n`, `\u00e4`): left to the full parser.
        if memchr::memchr(b'\\', &body.as_bytes()[..end]).is_some() {
            return None;
        }
        return Some((body[..end].to_owned(), &body[end + 1..]));
    }
    let mut out = String::new();
    let mut rest = body;
    loop {
        let end = memchr::memchr(b'\'', rest.as_bytes())?;
        out.push_str(&rest[..end]);
        rest = &rest[end + 1..];
        match rest.strip_prefix('\'') {
            Some(r) => {
                out.push('\'');
                rest = r;
            }
            None => return Some((out, rest)),
        }
    }
}

/// Lowercase words that YAML may read as something other than a string.
fn special_word(s: &str) -> bool {
    let b = s.as_bytes();
    // Every special word starts with one of `tfnyoi` (either case): most keys (`name` aside) are ruled
    // out by their first byte.
    if b.len() > 5 || !b.first().is_some_and(|c| b"tfnyoiTFNYOI".contains(c)) {
        return false;
    }
    let mut lower = [0u8; 5];
    for (l, c) in lower.iter_mut().zip(b) {
        *l = c.to_ascii_lowercase();
    }
    matches!(
        &lower[..b.len()],
        b"true"
            | b"false"
            | b"null"
            | b"yes"
            | b"no"
            | b"on"
            | b"off"
            | b"y"
            | b"n"
            | b"nan"
            | b"inf"
    )
}

/// A plain scalar as serde-saphyr reads it.
fn plain(s: &str) -> Option<Value> {
    let first = s.bytes().next()?;
    // Indicators and what a plain scalar cannot hold: left to the full parser.
    if matches!(
        first,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    ) && !(first == b'-' && s.len() > 1 && s.as_bytes()[1] != b' ')
    {
        return None;
    }
    if colon_space(s).is_some() || s.ends_with(':') || comment_start(s).is_some() {
        return None;
    }
    // A letter that starts no special word, or a `/` (paths: `/tmp`, `/healthz`), starts no number,
    // boolean or null in any YAML schema.
    if (first.is_ascii_alphabetic() && !special_word(s)) || first == b'/' {
        return Some(Value::String(s.to_owned()));
    }
    resolve(s)
}

/// What serde-saphyr makes of the plain scalar `s` on its own (kept per thread).
fn resolve(s: &str) -> Option<Value> {
    // Decimal integers without a sign or leading zero (ports, replicas, user ids) are integers to every
    // YAML schema: no need to ask the parser, or the cache.
    if (1..=18).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'))
    {
        return s.parse::<u64>().ok().map(Value::from);
    }
    if let Some(v) = RESOLVED.with(|c| c.borrow().get(s).cloned()) {
        return Some(v);
    }
    // As the value of a mapping entry, where the reader found it (a document of a lone null is no value).
    let mut entry: Map<String, Value> =
        serde_saphyr::from_str_with_options(&format!("k: {s}"), options()).ok()?;
    let v = entry.remove("k")?;
    if v.is_object() || v.is_array() {
        return None;
    }
    RESOLVED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() < MAX_CACHED {
            c.insert(s.to_owned(), v.clone());
        }
    });
    Some(v)
}

/// A flow node on one line.
struct Flow<'a> {
    text: &'a str,
    at: usize,
}

impl Flow<'_> {
    fn skip_spaces(&mut self) {
        while self.text.as_bytes().get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }

    fn node(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_NESTING {
            return None;
        }
        self.skip_spaces();
        match *self.text.as_bytes().get(self.at)? {
            b'{' => {
                self.at += 1;
                let mut map = Map::new();
                if self.close(b'}') {
                    return Some(Value::Object(map));
                }
                loop {
                    let key = self.key()?;
                    let value = self.node(depth + 1)?;
                    if map.insert(key, value).is_some() {
                        return None;
                    }
                    if self.close(b'}') {
                        return Some(Value::Object(map));
                    }
                    self.comma()?;
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.close(b']') {
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.node(depth + 1)?);
                    if self.close(b']') {
                        return Some(Value::Array(items));
                    }
                    self.comma()?;
                }
            }
            b'"' | b'\'' => {
                let (s, after) = quoted(&self.text[self.at..])?;
                self.at = self.text.len() - after.len();
                Some(Value::String(s))
            }
            _ => {
                let rest = &self.text[self.at..];
                let end = memchr::memchr3(b',', b']', b'}', rest.as_bytes()).unwrap_or(rest.len());
                let s = trim_end_spaces(&rest[..end]);
                if colon_space(s).is_some()
                    || s.ends_with(':')
                    || s.bytes()
                        .any(|b| matches!(b, b'#' | b'[' | b'{' | b'"' | b'\''))
                {
                    return None;
                }
                self.at += end;
                plain(s)
            }
        }
    }

    /// A flow mapping's key and its `: `.
    fn key(&mut self) -> Option<String> {
        self.skip_spaces();
        let rest = &self.text[self.at..];
        let end = colon_space(rest)?;
        let (key, _) = key_of(&rest[..end + 1])?;
        self.at += end + 2;
        Some(key.into_owned())
    }

    fn close(&mut self, c: u8) -> bool {
        self.skip_spaces();
        let yes = self.text.as_bytes().get(self.at) == Some(&c);
        if yes {
            self.at += 1;
        }
        yes
    }

    fn comma(&mut self) -> Option<()> {
        self.skip_spaces();
        (self.text.as_bytes().get(self.at) == Some(&b',')).then(|| self.at += 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saphyr(text: &str) -> Value {
        serde_saphyr::from_str_with_options(text, options()).unwrap()
    }

    #[test]
    fn plain_decimal_integers_are_read_as_serde_saphyr_reads_them() {
        for s in [
            "0",
            "1",
            "7",
            "80",
            "8080",
            "10001",
            "999999999999999999",
            "00",
            "0755",
            "1_000",
            "9999999999999999999",
        ] {
            let text = format!("k: {s}\n");
            assert_eq!(parse(&text), Some(saphyr(&text)), "{s}");
        }
    }

    #[test]
    fn what_the_fast_reader_reads_it_reads_as_serde_saphyr_does() {
        let docs = [
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: {app: web, tier: '1'}\ndata:\n  num: 8080\n  fl: 1.5\n  bo: true\n  nu: ~\n  em:\n  qu: \"quoted: yes\"\n  sq: 'it''s'\n",
            "spec:\n  containers:\n  - name: app\n    image: nginx:latest\n    ports:\n      - containerPort: 8080\n    args: [--a, -b, \"c\"]\n    resources:\n      requests: {cpu: 100m, memory: 128Mi}\n  - name: b # comment\n    command:\n    -\n    - sh\n",
            "data:\n  app.yaml: |\n    server:\n      port: 8080\n\n    # not a comment\n  other: |-\n    x \\d+ \\\"\n\n\nnext: 0x1F\nlast: -1\nneg: -0.5\ncron: 0 3 * * *\n",
            "items:\n- - a\n  - b\n- c: d\n  e: [1, {f: g, h: 'i', j: \"k\"}, x:y]\n- []\n- {}\n- {image: r.example/a:1.0}\n",
            "a: 012\n",
            "b: 1_000\n",
            "d: Yes\n",
            "e: NO\n",
            "f: 1e3\n",
            "g: +1\n",
            "h: 2026-12-03\n",
            "i: http://x.y/z\n",
            "j: a\\b\n",
            "k: 'a\\b'\n",
            "path: /tmp\nprobe: /live # probe\npaths: [/a, /b]\nmount: {p: /q}\nr1: /a:b\ns1: /x#y\n",
        ];
        for text in docs {
            let fast = parse(text).unwrap_or_else(|| panic!("read fast: {text}"));
            assert_eq!(fast, saphyr(text), "{text}");
        }
    }

    #[test]
    fn what_the_fast_reader_is_not_sure_of_is_left_to_serde_saphyr() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: >\n  folded\n",
            "a: multi\n  line\n",
            "a: \"esc\\n\"\n",
            "a: \"q\\\"\"\n",
            "a: [\"x\\ty\"]\n",
            "a:\tb\n",
            "a: 1\na: 2\n",
            "<<: {a: 1}\n",
            "a: b: c\n",
            "? a\n: b\n",
            "a: [unclosed\n",
            "a: \"multi\n  line\"\n",
            "just a scalar\n",
            "a: 1\n  b: 2\n",
            "on: 1\n",
            "c: .inf\n",
            "a:\n-\n  scalar on its own line\n",
            "a: |2\n   x\n",
            "a: |\n  no line break at the end",
            "a: /x: y\n",
            "a:\n- /x: y\n",
        ] {
            assert!(parse(text).is_none(), "{text:?} -> {:?}", parse(text));
        }
    }

    /// Scalars and keys for the helpers' tests: short and long (past [`LONG`]), with spaces, colons,
    /// comments, quotes, special words in every case, non-ASCII text.
    fn samples() -> Vec<String> {
        let mut out: Vec<String> = [
            "",
            " ",
            "  ",
            "a",
            "a:",
            "a: b",
            "a:b",
            "a :b",
            " a: b ",
            "a #b",
            "a#b",
            "#a",
            " #",
            ": ",
            "key: value # comment",
            "x.y/z-w_1: 2",
            "1a: b",
            "_a: b",
            "a b: c",
            "a\u{e4}: b",
            "\u{e4}: b",
            "'q': v",
            "\"q\": v",
            "true",
            "True",
            "TRUE",
            "tRuE",
            "false",
            "null",
            "Null",
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "Y",
            "n",
            "N",
            "nan",
            "NaN",
            ".nan",
            "inf",
            "Inf",
            "-inf",
            "truex",
            "nul",
            "o",
            "of",
            "a.b: ",
            "a/b:  x",
            "a-b:\tx",
            "/tmp",
            "/live #c",
            "/a: b",
            "http://x.y/z",
            "100m",
            "128Mi",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let long = "registry.example.org/group/image".repeat(3);
        out.extend([
            format!("{long}: {long}"),
            format!("{long} #{long}"),
            format!("{long}:{long} # x"),
            format!("   {long}   "),
            format!("{long}#x: y"),
        ]);
        out
    }

    /// [`key_of`], [`special_word`], [`comment_start`], [`colon_space`] and [`strip_comment`] as they were
    /// first written (searches and `str` methods), to hold the byte loops to them.
    mod reference {
        use std::borrow::Cow;

        pub fn special_word(s: &str) -> bool {
            const WORDS: [&str; 11] = [
                "true", "false", "null", "yes", "no", "on", "off", "y", "n", "nan", "inf",
            ];
            s.len() <= 5 && WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
        }

        pub fn comment_start(text: &str) -> Option<usize> {
            text.find(" #")
        }

        pub fn colon_space(text: &str) -> Option<usize> {
            text.find(": ")
        }

        pub fn strip_comment(text: &str) -> &str {
            let text = text.trim_matches(' ');
            if text.starts_with('#') {
                return "";
            }
            comment_start(text).map_or(text, |i| text[..i].trim_end_matches(' '))
        }

        pub fn key_of(text: &str) -> Option<(Cow<'_, str>, &str)> {
            let (key, rest) = if let Some(q) = text.strip_prefix(['"', '\'']).map(|_| text) {
                let (key, after) = super::super::quoted(q)?;
                (Cow::Owned(key), after.strip_prefix(':')?)
            } else {
                let end = text.find(':')?;
                let key = &text[..end];
                let first = key.bytes().next()?;
                let simple = first.is_ascii_alphabetic()
                    && key.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')
                    })
                    && !special_word(key);
                if !simple {
                    return None;
                }
                (Cow::Borrowed(key), &text[end + 1..])
            };
            if !(rest.is_empty() || rest.starts_with(' ')) {
                return None;
            }
            Some((key, strip_comment(rest)))
        }
    }

    #[test]
    fn the_byte_loops_find_what_the_searches_they_replace_find() {
        let mut keys = 0;
        for s in samples() {
            assert_eq!(special_word(&s), reference::special_word(&s), "{s:?}");
            assert_eq!(comment_start(&s), reference::comment_start(&s), "{s:?}");
            assert_eq!(colon_space(&s), reference::colon_space(&s), "{s:?}");
            assert_eq!(strip_comment(&s), reference::strip_comment(&s), "{s:?}");
            assert_eq!(trim_spaces(&s), s.trim_matches(' '), "{s:?}");
            assert_eq!(trim_start_spaces(&s), s.trim_start_matches(' '), "{s:?}");
            assert_eq!(trim_end_spaces(&s), s.trim_end_matches(' '), "{s:?}");
            let key = key_of(&s);
            assert_eq!(key, reference::key_of(&s), "{s:?}");
            keys += usize::from(key.is_some());
        }
        assert!(keys > 5, "only {keys} keys among the samples");
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/');
            assert_eq!(KEY_BYTE[usize::from(b)], expected, "{b}");
        }
    }

    #[test]
    fn a_sequence_item_that_is_an_entry_is_read_once_and_as_before() {
        // The entry after `- ` is found by `sequence` and taken over by `mapping`; a later item of the
        // same text elsewhere is read on its own.
        for text in [
            "a:\n- b: 1\n  c: 2\n- b: 1\n- 'q': x\n- \"r\": y\n  s: z\n",
            "a:\n- - b: 1\n  - c\n- b:\n  - d\n",
            "a:\n- b: 1\n  b: 2\n",
            "a:\n- b: 1 # c\n- b: {c: d}\n- e: |\n    f\n",
        ] {
            let fast = parse(text);
            let full: Result<Value, _> = serde_saphyr::from_str_with_options(text, options());
            match fast {
                Some(v) => assert_eq!(Some(&v), full.as_ref().ok(), "{text:?}"),
                // Duplicate keys are left to the full parser.
                None => assert!(text.contains("b: 2"), "{text:?}"),
            }
        }
    }

    /// Every document of the YAML files under the folders in `CONPLUS_FAST_READER_CORPUS` (separated by
    /// `:`) that the fast reader reads is read as serde-saphyr reads it. Without the variable the test
    /// passes at once; see docs/benchmarks.md for the corpora it was run on.
    /// The YAML files under `dirs`, recursively.
    fn yaml_files(dirs: Vec<std::path::PathBuf>) -> Vec<std::path::PathBuf> {
        let (mut stack, mut files) = (dirs, Vec::new());
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                ) {
                    files.push(path);
                }
            }
        }
        files
    }

    /// Reads every document of `files` the fast way and, where it can, asserts serde-saphyr reads
    /// the same; (documents read fast, documents).
    fn read_fast_as_serde_saphyr(files: &[std::path::PathBuf]) -> (usize, usize) {
        let (mut fast_docs, mut docs) = (0, 0);
        for path in files {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            for doc in super::super::parse::split_for_tests(&text) {
                docs += 1;
                if let Some(fast) = parse(&doc) {
                    let full: Result<Value, _> =
                        serde_saphyr::from_str_with_options(&doc, options());
                    assert_eq!(
                        Some(&fast),
                        full.as_ref().ok(),
                        "{}:\n{doc}",
                        path.display()
                    );
                    fast_docs += 1;
                }
            }
        }
        (fast_docs, docs)
    }

    #[test]
    fn a_corpus_reads_fast_as_serde_saphyr_reads_it() {
        let Ok(dirs) = std::env::var("CONPLUS_FAST_READER_CORPUS") else {
            return;
        };
        let roots = dirs.split(':').filter(|d| !d.is_empty()).map(Into::into);
        let (fast_docs, docs) = read_fast_as_serde_saphyr(&yaml_files(roots.collect()));
        eprintln!("{fast_docs} of {docs} documents read fast, all as serde-saphyr reads them");
        assert!(fast_docs > 0, "no document read fast under {dirs}");
    }

    #[test]
    fn the_fixtures_read_fast_as_serde_saphyr_reads_them() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let files = yaml_files(vec![root]);
        let (fast_docs, _) = read_fast_as_serde_saphyr(&files);
        assert!(fast_docs > 40, "only {fast_docs} documents read fast");
    }
}
