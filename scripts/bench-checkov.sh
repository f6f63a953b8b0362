#!/usr/bin/env bash
# Times `conplus-operator check` against `checkov --framework kubernetes` on the same corpora (generated ones
# of 1,000 and 10,000 objects, and real repositories' manifests such as kube-prometheus), wall-clock and peak
# memory (`/usr/bin/time -v`), and `check`'s throughput on one core (`taskset -c 0`), and writes the medians
# into the `## Conformance engine` section of docs/benchmarks.md.
#
# Usage: scripts/bench-checkov.sh [RUNS]   (default 3 runs per tool and corpus; medians are reported)
# Env:   CARGO_TARGET_DIR  where the release build goes (default: target)
#        CHECKOV_VENV      venv for checkov (default /tmp/checkov-venv; created with `pip install checkov`)
#        SIZES             corpus sizes (default "1000 10000")
#        CHECKOV_MAX       skip checkov on corpora larger than this (default 10000)
#        CONPLUS_BIN       use this conplus-operator binary instead of building one
#        CHECKOV_RUNS      runs of checkov on corpora above 1,000 objects (default 1: checkov needs about half an
#                          hour and 3 GiB for 10,000 objects)
#        REAL_CORPORA      folders of real manifests to time as well (default: ../shared/corpus/kube-prometheus
#                          next to the checkout, when it exists); not copied, not committed
#        CHECKOV           `skip`: time conplus-operator only (no checkov install, no checkov runs); the
#                          checkov columns then read "–"
#        ONE_CORE_RUNS runs of `check` pinned to one core for its CPU time (default 21; median reported)
#        CHECKOV_CACHE     folder keeping checkov's figures by corpus content and checkov version (default
#                          /tmp/checkov-cache), so that a second run of the script does not repeat checkov's
#                          half hour; delete it to measure checkov again
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-3}"
sizes="${SIZES:-1000 10000}"
venv="${CHECKOV_VENV:-/tmp/checkov-venv}"
checkov_max="${CHECKOV_MAX:-10000}"
checkov_runs_large="${CHECKOV_RUNS:-1}"
real_corpora="${REAL_CORPORA:-$root/../shared/corpus/kube-prometheus}"
checkov_cache="${CHECKOV_CACHE:-/tmp/checkov-cache}"
one_runs="${ONE_CORE_RUNS:-21}"
target="${CARGO_TARGET_DIR:-$root/target}"
work="$(mktemp -d /tmp/conplus-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

[[ -x /usr/bin/time ]] || { echo "/usr/bin/time (GNU time) is required: apt-get install time" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

if [[ -n "${CONPLUS_BIN:-}" ]]; then
  bin="$CONPLUS_BIN"
else
  echo "== building conplus-operator (release)" >&2
  (cd "$root" && CARGO_TARGET_DIR="$target" cargo build --release -q -p conplus-operator)
  bin="$target/release/conplus-operator"
fi

checkov=""
if [[ "${CHECKOV:-}" == skip ]]; then
  checkov_version="not run (CHECKOV=skip)"
elif [[ -x "$venv/bin/checkov" ]] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q checkov; } >&2; then
  checkov="$venv/bin/checkov"
  checkov_version="$("$checkov" --version 2>/dev/null | tail -1)"
else
  echo "checkov could not be installed into $venv; timing conplus-operator only" >&2
  checkov_version="not installed"
fi

# A corpus of N objects: one multi-document file per namespace of 20 objects (Namespace, policies, quota,
# RBAC, ConfigMap, Services and workloads of every kind, a third of the namespaces with violations).
gen() {
  python3 - "$1" "$2" <<'PY'
import os, sys
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)

def pod(i, good):
    sc = "allowPrivilegeEscalation: false\n            readOnlyRootFilesystem: true\n            capabilities:\n              drop: [ALL]"
    if not good:
        sc = "privileged: true"
    image = f"registry.conplus.niedersachsen.de/fv{i % 17}/app:1.{i % 9}.0" if good else "nginx:latest"
    probes = "" if not good else """
          livenessProbe:
            httpGet: {path: /live, port: 8080}"""
    return f"""      serviceAccountName: app
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile: {{type: RuntimeDefault}}
      containers:
        - name: app
          image: {image}
          ports:
            - containerPort: 8080
          env:
            - name: LOG_FORMAT
              value: json
            - name: {'DB_HOST' if good else 'API_TOKEN'}
              value: {'db' if good else 'abcdef123456'}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: 500m, memory: 256Mi}}
          readinessProbe:
            httpGet: {{path: /ready, port: 8080}}{probes}
          securityContext:
            {sc}
          volumeMounts:
            - {{name: tmp, mountPath: /tmp}}
      volumes:
        - name: tmp
          emptyDir: {{}}
"""

def workload(kind, api, name, ns, i, good, extra=""):
    return f"""apiVersion: {api}
kind: {kind}
metadata:
  name: {name}
  namespace: {ns}
spec:
{extra}  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
{pod(i, good)}"""

count, i = 0, 0
while count < n:
    ns, good = f"fv{i}-prod", i % 3 != 0
    docs = [
        f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n    conplus.niedersachsen.de/ressort: mk\n    conplus.niedersachsen.de/protection-level: normal\n",
        f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny\n  namespace: {ns}\nspec:\n  podSelector: {{}}\n  policyTypes: [Ingress, Egress]\n",
        f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  podSelector:\n    matchLabels: {{app: web}}\n  ingress:\n    - from:\n        - namespaceSelector:\n            matchLabels: {{name: ingress}}\n",
        f"apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: budget\n  namespace: {ns}\nspec:\n  hard: {{requests.cpu: '4', requests.memory: 8Gi}}\n",
        f"apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: defaults\n  namespace: {ns}\nspec:\n  limits:\n    - type: Container\n      default: {{cpu: 500m, memory: 256Mi}}\n",
        f"apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels: {{app: web}}\n",
        f"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: dev\n  namespace: {ns}\nrules:\n  - apiGroups: [apps]\n    resources: [deployments]\n    verbs: [get, list, watch]\n",
        f"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: dev\n  namespace: {ns}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: dev\nsubjects:\n  - kind: Group\n    name: mk-dev\n",
        f"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app\n  namespace: {ns}\nautomountServiceAccountToken: false\n",
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: {ns}\ndata:\n  LOG_LEVEL: info\n  application.yaml: |\n    server:\n      port: 8080\n",
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  selector: {{app: web}}\n  ports:\n    - port: 80\n      targetPort: 8080\n",
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: db\n  namespace: {ns}\nspec:\n  selector: {{app: db}}\n  ports:\n    - port: 5432\n",
        workload("Deployment", "apps/v1", "web", ns, i, good, "  replicas: 2\n"),
        workload("Deployment", "apps/v1", "api", ns, i, True, "  replicas: 2\n"),
        workload("StatefulSet", "apps/v1", "db", ns, i, True, "  replicas: 2\n  serviceName: db\n"),
        workload("DaemonSet", "apps/v1", "agent", ns, i, True),
        workload("ReplicaSet", "apps/v1", "legacy", ns, i, good, "  replicas: 2\n"),
        f"apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  namespace: {ns}\nspec:\n  template:\n    spec:\n" + pod(i, True),
        f"apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: report\n  namespace: {ns}\nspec:\n  schedule: '0 3 * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n" + "\n".join("    " + l if l else l for l in pod(i, good).split("\n")),
        f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: debug\n  namespace: {ns}\nspec:\n" + "\n".join(l[4:] if l.startswith("    ") else l for l in pod(i, good).split("\n")),
    ]
    docs = docs[: n - count]
    with open(os.path.join(out, f"{ns}.yaml"), "w") as f:
        f.write("---\n".join(docs))
    count += len(docs)
    i += 1
PY
}

# time_run OUT CMD...: runs CMD under GNU time, appends "seconds max_rss_kib" to OUT.
time_run() {
  local out="$1"; shift
  local log="$work/time.log"
  /usr/bin/time -v "$@" >/dev/null 2>"$log" || true
  local wall rss
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')"
  rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")"
  echo "$wall $rss" >>"$out"
}

# cpu_run OUT CMD...: runs CMD, appends its CPU time in seconds (user + sys) to OUT: perf's task-clock when
# perf is there, else GNU time's user and system times (10 ms ticks).
cpu_run() {
  local out="$1"; shift
  local log="$work/cpu.log"
  if command -v perf >/dev/null; then
    perf stat -x, -e task-clock -o "$log" "$@" >/dev/null 2>&1 || true
    awk -F, '/task-clock/ {printf "%.4f\n", $1 / 1000}' "$log" >>"$out"
  else
    /usr/bin/time -v "$@" >/dev/null 2>"$log" || true
    awk -F': ' '/User time|System time/ {s += $2} END {printf "%.4f\n", s}' "$log" >>"$out"
  fi
}

median() { sort -n | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

# The manifests of a folder as one stream, in a fixed order: its content's hash keys checkov's cache.
corpus_hash() { (cd "$1" && find . -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) -print0 | sort -z | xargs -0 cat) | sha256sum | cut -c1-16; }
corpus_bytes() { (cd "$1" && find . -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) -print0 | xargs -0 cat) | wc -c; }

# bench LABEL DIR CHECKOV_RUNS: one row of the table.
bench() {
  local label="$1" dir="$2" theirs_runs="$3" key
  key="$label-$(basename "$dir")"
  "$bin" check "$dir" --format json >"$work/check-$key.json" || true
  local objects findings bytes
  objects="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["objects"])' "$work/check-$key.json")"
  findings="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["findings"])' "$work/check-$key.json")"
  bytes="$(corpus_bytes "$dir")"
  echo "== $label: $objects objects, $(numfmt --to=iec "$bytes")B in $(find "$dir" -type f | wc -l) files" >&2
  : >"$work/ours-$key"; : >"$work/one-$key"
  for _ in $(seq "$runs"); do
    time_run "$work/ours-$key" "$bin" check "$dir" --format json
  done
  # CPU time pinned to one core: less sensitive than the wall-clock to other work on the machine.
  for _ in $(seq "$one_runs"); do
    cpu_run "$work/one-$key" taskset -c 0 "$bin" check "$dir" --format json
  done
  local ours_t ours_m one_t mbs
  ours_t="$(cut -d' ' -f1 "$work/ours-$key" | median)"
  ours_m="$(cut -d' ' -f2 "$work/ours-$key" | median)"
  one_t="$(median <"$work/one-$key")"
  mbs="$(python3 -c "print(f'{$bytes / 1e6 / max($one_t, 0.0001):.0f}')")"
  one_t="$(python3 -c "print(f'{$one_t * 1000:.0f} ms')")"
  local theirs_t="–" theirs_m="–" speed="–" mem="–"
  if [[ -n "$checkov" && "$theirs_runs" -gt 0 ]]; then
    local cache
    cache="$checkov_cache/$(corpus_hash "$dir")-$(echo "$checkov_version" | tr -c '0-9.\n' '_')"
    mkdir -p "$checkov_cache"; touch "$cache"
    while [[ "$(wc -l <"$cache")" -lt "$theirs_runs" ]]; do
      time_run "$cache" nice "$checkov" --framework kubernetes -d "$dir" --quiet --compact -o json
    done
    theirs_t="$(head -n "$theirs_runs" "$cache" | cut -d' ' -f1 | median)"
    theirs_m="$(head -n "$theirs_runs" "$cache" | cut -d' ' -f2 | median)"
    speed="$(python3 -c "print(f'{$theirs_t / max($ours_t, 0.001):,.0f}×')")"
    mem="$(python3 -c "print(f'{$theirs_m / max($ours_m, 1):.0f}×')")"
    theirs_t="${theirs_t} s ($theirs_runs)"; theirs_m="$((theirs_m / 1024)) MiB"
  fi
  rows+="| $label | $objects | $(numfmt --to=iec "$bytes")B | $findings | ${ours_t} s | $((ours_m / 1024)) MiB | ${one_t} = $mbs MB/s | $theirs_t | $theirs_m | $speed | $mem |"$'\n'
  echo "$rows" | tail -2 >&2
}

rows=""
for n in $sizes; do
  dir="$work/corpus-$n"
  gen "$dir" "$n"
  theirs_runs="$runs"
  [[ "$n" -le 1000 ]] || theirs_runs="$checkov_runs_large"
  [[ "$n" -le "$checkov_max" ]] || theirs_runs=0
  bench "generated $n" "$dir" "$theirs_runs"
done
for dir in $real_corpora; do
  [[ -d "$dir" ]] || { echo "== $dir: not there, skipped" >&2; continue; }
  bench "$(basename "$dir")" "$(cd "$dir" && pwd)" "$runs"
done

cores="$(nproc)"
cpu="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
section="$work/section.md"
cat >"$section" <<EOF
## Conformance engine

Measured by \`scripts/bench-checkov.sh $runs\` on $(date -u +%Y-%m-%d): median of $runs runs each (checkov on
corpora above 1,000 objects: $checkov_runs_large run(s), \`CHECKOV_RUNS\`), wall-clock and peak resident memory from
\`/usr/bin/time -v\`. Machine: $cores cores ($cpu), **shared with
other builds running at the same time**, so absolute numbers are noisy; the ratios are what matters.
Corpora: generated onboarded namespaces of 20 objects each (Namespace, NetworkPolicies, quota, LimitRange,
PodDisruptionBudget, RBAC, ServiceAccount, ConfigMap, Services, Deployments, StatefulSet, DaemonSet,
ReplicaSet, Job, CronJob, Pod), one multi-document YAML file per namespace, a third of them with violations;
and real repositories' manifests:$(for d in $real_corpora; do [[ -d "$d" ]] && printf ' `%s`' "$(basename "$d")"; done).
\`conplus-operator check DIR --format json\` (release build; on every core, and pinned to one with
\`taskset -c 0\` for the throughput: CPU time, user + system, median of $one_runs runs, by \`perf stat\` when
it is installed) against \`checkov --framework kubernetes -d DIR --quiet --compact -o json\`
($checkov_version, under \`nice\`; its figures are kept in \`CHECKOV_CACHE\` by corpus content, runs in brackets).

| Corpus | Objects | YAML | Findings (ours) | check: wall | check: peak RSS | check: CPU on one core | checkov: wall | checkov: peak RSS | faster | less memory |
|---|---|---|---|---|---|---|---|---|---|---|
${rows}
Goals (issue 12): ≥ 500× checkov's wall-clock, ≤ 1/20 of its peak memory, ≥ 200 MB/s of YAML on one core.

What \`check\` does for speed: documents of kinds nothing reads (CustomResourceDefinitions,
ServiceMonitors, PrometheusRules: most of the bytes of real repositories) are read as their \`apiVersion\`,
\`kind\` and \`metadata\` only, found by a scan of the lines at column 0 (\`src/conformance/input/light.rs\`);
documents are split at the lines starting with \`---\`/\`...\` found by a vectorised search (memchr), not by
looking at every line; documents in plain block YAML (nearly all manifests) are read by a fast reader of that
subset (\`src/conformance/input/fast.rs\`), the others by serde-saphyr; files are read and parsed on every
core, and on inputs of 1,000 objects and more the rules run on every core too; workloads and the other
kinds that only their own rules read are read as their head at first (for the index of namespaces) and
parsed whole when their rules run, then freed, so that the heap is reused instead of holding every tree;
the engine evaluates the parsed objects in place (views, no copies); the JSON report is written straight from the findings; the
parsed objects are not freed one by one at exit.
checkov's figure for the 10,000-object corpus is one run under \`nice -n 10\` while other builds ran.

The engine alone (\`cargo bench --bench conformance\`, criterion, objects already parsed):
CRITERION_PLACEHOLDER
EOF

# Criterion's figures, when a run left them.
crit="$target/criterion/conformance"
crit_lines=""
for b in evaluate_normal evaluate_veryHigh parse-yaml; do
  est="$crit/$b/new/estimates.json"
  bench_json="$crit/$b/new/benchmark.json"
  if [[ -f "$est" && -f "$bench_json" ]]; then
    crit_lines+="$(python3 - "$est" "$bench_json" "$b" <<'PY'
import json, sys
est = json.load(open(sys.argv[1])); bench = json.load(open(sys.argv[2]))
ns = est["median"]["point_estimate"]
elements = (bench.get("throughput") or {}).get("Elements", 0)
rate = elements / (ns / 1e9) if ns else 0
print(f"- `{bench['function_id']}`: {ns / 1e6:.2f} ms per {elements} objects = {rate:,.0f} objects/s")
PY
)"$'\n'
  fi
done
[[ -n "$crit_lines" ]] || crit_lines="- (run \`cargo bench -p conplus-operator --bench conformance\` first)"
python3 - "$section" "$crit_lines" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read().replace("CRITERION_PLACEHOLDER", sys.argv[2].rstrip("\n"))
open(p, "w").write(s)
PY

# Replace (or append) only our section of docs/benchmarks.md (its text before its first subsection);
# other sections and the subsections belong to others.
doc="$root/docs/benchmarks.md"
python3 - "$doc" "$section" <<'PY'
import os, re, sys
doc, section = sys.argv[1], open(sys.argv[2]).read().rstrip("\n") + "\n"
text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
# Up to the next heading: the dated `###` subsections under it are kept.
m = re.search(r"^## Conformance engine\n.*?(?=^##+ |\Z)", text, flags=re.S | re.M)
if m:
    text = text[: m.start()] + section + ("\n" if text[m.end():] else "") + text[m.end():]
else:
    text = text.rstrip("\n") + "\n\n" + section
open(doc, "w").write(text)
PY
echo "== wrote the Conformance engine section of $doc" >&2
