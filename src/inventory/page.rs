//! The read-only inventory page (pure rendering; [`super::serve`] serves it): tasks with the
//! Fachverfahren that serve them, parallel solutions highlighted; Ressorts with budget and allocation;
//! onboardings with Ready and conformance. Server-rendered HTML with German labels, semantic tables,
//! inline styles only: no script, no external asset, readable without CSS.

use std::fmt::Write as _;

use kube::ResourceExt;

use super::{Inventory, NO_TASK};
use crate::api::{CostStatus, FachverfahrenOnboarding, ResourceTotals, Ressort};

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b;max-width:80rem}\
table{border-collapse:collapse;margin:0 0 2rem;width:100%}\
th,td{border:1px solid #999;padding:.3rem .5rem;text-align:left;vertical-align:top}\
thead th{background:#e8e8e8}caption{text-align:left;font-weight:bold;padding:.3rem 0}\
tr.parallel th,tr.parallel td{background:#fff1cc}.no{color:#a00000;font-weight:bold}\
.yes{color:#005a00}";

fn yes_no(ok: bool) -> &'static str {
    if ok {
        "<span class=\"yes\">ja</span>"
    } else {
        "<span class=\"no\">nein</span>"
    }
}

fn totals(t: Option<&ResourceTotals>) -> String {
    t.map(|t| {
        format!(
            "CPU {}, Speicher {}, Datenspeicher {}, Pods {}",
            t.cpu.0, t.memory.0, t.storage.0, t.pods.0
        )
    })
    .unwrap_or_else(|| "–".into())
}

fn cost(c: Option<&CostStatus>) -> String {
    c.map(|c| format!("{} {}", c.monthly, c.currency))
        .unwrap_or_else(|| "–".into())
}

/// The whole page.
pub fn render(
    inv: &Inventory,
    ressorts: &[Ressort],
    onboardings: &[FachverfahrenOnboarding],
) -> String {
    let mut out = String::new();
    let parallel = inv.tasks.iter().filter(|t| t.parallel).count();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"de\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>CONPlus-Inventar</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>CONPlus-Inventar</h1>\n<p>{} Verwaltungsaufgaben, {} davon mit parallelen Lösungen; {} Ressorts; {} Onboardings.</p>\n",
        inv.tasks.iter().filter(|t| t.kind.is_some()).count(),
        parallel,
        ressorts.len(),
        onboardings.len()
    );
    tasks(&mut out, inv);
    ressort_table(&mut out, ressorts);
    onboarding_table(&mut out, onboardings);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn tasks(out: &mut String, inv: &Inventory) {
    out.push_str(
        "<section aria-labelledby=\"aufgaben\">\n<h2 id=\"aufgaben\">Verwaltungsaufgaben und ihre Lösungen</h2>\n\
         <table>\n<caption>Hervorgehoben: Aufgaben, die mehr als ein Fachverfahren erfüllt (parallele Lösungen)</caption>\n\
         <thead><tr><th scope=\"col\">Aufgabe</th><th scope=\"col\">Art</th><th scope=\"col\">Parallele Lösungen</th>\
         <th scope=\"col\">Ressort</th><th scope=\"col\">Fachverfahren</th><th scope=\"col\">Umgebungen</th>\
         <th scope=\"col\">Bereit</th><th scope=\"col\">Konformität</th></tr></thead>\n<tbody>\n",
    );
    for t in &inv.tasks {
        let class = if t.parallel {
            " class=\"parallel\""
        } else {
            ""
        };
        let name = if t.display_name == NO_TASK {
            "(keine Aufgabe angegeben)".to_string()
        } else if t.kind.is_none() {
            format!("{} (keine Verwaltungsaufgabe dieses Namens)", t.name)
        } else {
            t.display_name.clone()
        };
        let kind = t.kind.map(|k| k.as_str()).unwrap_or("–");
        let rows = t.solutions.len().max(1);
        let _ = write!(
            out,
            "<tr{class}><th scope=\"rowgroup\" rowspan=\"{rows}\">{}</th><td rowspan=\"{rows}\">{}</td><td rowspan=\"{rows}\">{}</td>",
            escape(&name),
            escape(kind),
            if t.parallel {
                format!("<strong>ja: {} Fachverfahren</strong>", t.fachverfahren)
            } else {
                "nein".to_string()
            }
        );
        if t.solutions.is_empty() {
            out.push_str("<td colspan=\"5\">noch kein Fachverfahren auf CONPlus</td></tr>\n");
        }
        for (i, s) in t.solutions.iter().enumerate() {
            if i > 0 {
                let _ = write!(out, "<tr{class}>");
            }
            let _ = writeln!(
                out,
                "<td>{}</td><td>{} <small>({})</small></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&s.ressort),
                escape(&s.display_name),
                escape(&s.onboarding),
                escape(&s.environments.join(", ")),
                yes_no(s.ready),
                s.conformance_score
                    .map(|x| format!("{x} %"))
                    .unwrap_or_else(|| "–".into())
            );
        }
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn ressort_table(out: &mut String, ressorts: &[Ressort]) {
    out.push_str(
        "<section aria-labelledby=\"ressorts\">\n<h2 id=\"ressorts\">Ressorts</h2>\n<table>\n\
         <thead><tr><th scope=\"col\">Ressort</th><th scope=\"col\">Name</th><th scope=\"col\">Onboardings</th>\
         <th scope=\"col\">Budget</th><th scope=\"col\">Zugewiesen</th><th scope=\"col\">Verfügbar</th>\
         <th scope=\"col\">Kosten pro Monat</th></tr></thead>\n<tbody>\n",
    );
    let mut sorted: Vec<&Ressort> = ressorts.iter().collect();
    sorted.sort_by_key(|r| r.name_any());
    for r in sorted {
        let status = r.status.as_ref();
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.name_any()),
            escape(&r.spec.display_name),
            status.map(|s| s.onboardings).unwrap_or(0),
            escape(&totals(Some(&r.spec.budget))),
            escape(&totals(status.and_then(|s| s.allocated.as_ref()))),
            escape(&totals(status.and_then(|s| s.available.as_ref()))),
            escape(&cost(status.and_then(|s| s.cost.as_ref()))),
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn onboarding_table(out: &mut String, onboardings: &[FachverfahrenOnboarding]) {
    out.push_str(
        "<section aria-labelledby=\"onboardings\">\n<h2 id=\"onboardings\">Onboardings</h2>\n<table>\n\
         <thead><tr><th scope=\"col\">Onboarding</th><th scope=\"col\">Ressort</th><th scope=\"col\">Fachverfahren</th>\
         <th scope=\"col\">Aufgabe</th><th scope=\"col\">Schutzbedarf</th><th scope=\"col\">Phase</th>\
         <th scope=\"col\">Bereit</th><th scope=\"col\">Konformität</th><th scope=\"col\">Kosten pro Monat</th></tr></thead>\n<tbody>\n",
    );
    let mut sorted: Vec<&FachverfahrenOnboarding> = onboardings.iter().collect();
    sorted.sort_by_key(|o| o.name_any());
    for o in sorted {
        let status = o.status.as_ref();
        let ready = status
            .and_then(crate::controller::conditions::ready_condition)
            .is_some_and(|c| c.status == "True");
        let phase = status
            .and_then(|s| s.phase)
            .map(|p| format!("{p:?}"))
            .unwrap_or_else(|| "–".into());
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&o.name_any()),
            escape(&o.spec.ressort),
            escape(&o.spec.display_name),
            escape(o.spec.aufgabe.as_deref().unwrap_or("–")),
            escape(o.spec.protection_level.as_str()),
            escape(&phase),
            yes_no(ready),
            status
                .and_then(|s| s.conformance.as_ref())
                .map(|c| format!("{} %", c.score))
                .unwrap_or_else(|| "–".into()),
            escape(&cost(status.and_then(|s| s.cost.as_ref()))),
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AufgabeKind, Verwaltungsaufgabe, VerwaltungsaufgabeSpec};
    use crate::resources::fixtures::moin_schule;

    #[test]
    fn text_from_the_cluster_cannot_inject_markup() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn the_page_highlights_parallel_solutions_and_escapes_names() {
        let task = Verwaltungsaufgabe::new(
            "zeiterfassung",
            VerwaltungsaufgabeSpec {
                display_name: "Zeiterfassung <alt>".into(),
                kind: AufgabeKind::Querschnitt,
                number: None,
                description: None,
                owner: None,
            },
        );
        let mut a = moin_schule();
        a.spec.aufgabe = Some("zeiterfassung".into());
        let mut b = a.clone();
        b.metadata.name = Some("ms-zeit".into());
        b.spec.ressort = "ms".into();
        let inv = Inventory::build(&[task], &[a.clone(), b.clone()], &[]);
        let html = render(&inv, &[], &[a, b]);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<html lang=\"de\">"));
        assert!(html.contains("<tr class=\"parallel\">"));
        assert!(html.contains("ja: 2 Fachverfahren"));
        assert!(html.contains("Zeiterfassung &lt;alt&gt;"));
        assert!(!html.contains("<script"), "no script on the page");
        assert!(
            !html.contains("src=") && !html.contains("href="),
            "no external asset"
        );
    }
}
