#!/usr/bin/env bash
# CI steps for shipping, called by .ci/run. Fails on the first failing step.
#
#   1. helm lint, helm template with default, HA and "sehr hoch" values (+ ServiceMonitor)
#   2. kubectl kustomize of deploy/crds, deploy/base, every overlay and deploy/admission
#   3. every rendered manifest validated against the Kubernetes 1.33 OpenAPI schemas (kubernetes-validate, strict)
#   4. the Argo CD health check against sample onboardings (Lua)
#   5. cargo deny check licenses bans sources (advisories need the network: not here)
#   6. the static release build: static, runs --version, no OpenSSL (scripts/build-static.sh), with its SBOM
#      embedded by cargo-auditable and read back by rust-audit-info (both installed here when missing)
#
# The operator's own `check` over the chart and every kustomize variant at every protection level runs in
# `cargo test` (tests/deploy.rs), before this script.
#
# Environment: SHIP_SKIP_STATIC=1 skips step 6 (for a quick local run); STATIC_PROFILE chooses the Cargo profile of
# step 6 (default release; .ci/run uses ci-static, see scripts/build-static.sh); CARGO_TARGET_DIR is honoured.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
k8s_version=1.33.0
chart=charts/conplus-operator
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
step() { printf '\n==> %s\n' "$*"; }

step "tools"
[[ -x .ci/tools/bin/helm && -x .ci/tools/bin/kubectl ]] || .ci/install-tools.sh
helm=.ci/tools/bin/helm
kubectl=.ci/tools/bin/kubectl
if ! command -v lua5.4 >/dev/null && ! command -v lua >/dev/null; then
  apt-get install -y --no-install-recommends lua5.4 >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends lua5.4 >/dev/null; }
fi
lua="$(command -v lua5.4 || command -v lua)"
command -v kubernetes-validate >/dev/null || pip install --quiet kubernetes-validate
"$helm" version --short
kubectl_version="$("$kubectl" version --client)"; echo "${kubectl_version%%$'\n'*}"
"$lua" -v

step "helm lint"
"$helm" lint --strict "$chart"
"$helm" lint --strict "$chart" -f "$chart/ci/ha-values.yaml"
"$helm" lint --strict "$chart" -f "$chart/ci/very-high-values.yaml"

step "helm template"
tpl=("$helm" template conplus-operator "$chart" --namespace conplus-system --include-crds)
"${tpl[@]}" >"$out/helm-default.yaml"
"${tpl[@]}" -f "$chart/ci/ha-values.yaml" >"$out/helm-ha.yaml"
"${tpl[@]}" -f "$chart/ci/very-high-values.yaml" --set metrics.serviceMonitor.enabled=true \
  --set 'conformance.allowedRegistries={ghcr.io,registry.example.org}' >"$out/helm-very-high.yaml"
grep -q -- '--leader-election' "$out/helm-ha.yaml" || { echo "HA values do not switch on leader election" >&2; exit 1; }
grep -q 'kind: PodDisruptionBudget' "$out/helm-ha.yaml" || { echo "HA values render no PodDisruptionBudget" >&2; exit 1; }
if grep -q 'kind: PodDisruptionBudget' "$out/helm-default.yaml"; then
  echo "one replica must not get a PodDisruptionBudget" >&2; exit 1
fi
# A value outside the schema must be refused.
if "$helm" template x "$chart" --set logging.format=xml >/dev/null 2>&1; then
  echo "values.schema.json accepted logging.format=xml" >&2; exit 1
fi
wc -l "$out"/helm-*.yaml

step "kubectl kustomize"
for dir in deploy/crds deploy/base deploy/overlays/*/ deploy/admission; do
  name="$(basename "$dir")"
  "$kubectl" kustomize "$dir" >"$out/kustomize-$name.yaml"
  echo "rendered $dir ($(grep -c '^kind:' "$out/kustomize-$name.yaml") objects)"
done

step "validate against the Kubernetes $k8s_version schemas"
# --strict refuses unknown fields; kinds without a built-in schema (ServiceMonitor) are reported and skipped.
kubernetes-validate --strict --quiet -k "$k8s_version" "$out"/*.yaml

step "Argo CD health check"
"$lua" deploy/argocd/health_test.lua

step "cargo deny (licenses, bans, sources)"
if ! cargo deny --version >/dev/null 2>&1; then
  # An unoptimised build: it checks one lock file in a second either way, and compiles in about half the
  # time of a release build (the release install was 10 of a cold CI run's minutes).
  cargo install --locked --debug cargo-deny
fi
cargo deny --log-level error check licenses bans sources

if [[ "${SHIP_SKIP_STATIC:-}" == 1 ]]; then
  step "static build skipped (SHIP_SKIP_STATIC=1)"
else
  step "SBOM tools: cargo-auditable (embeds it), rust-audit-info (reads it back)"
  # Into .ci/tools/bin beside kubectl and helm (cargo finds `cargo auditable` on PATH). A cold install compiles
  # both from crates.io: 68 CPU-seconds, 1m56s on the busy 2-core CI machine (load 8).
  export PATH="$root/.ci/tools/bin:$PATH"
  if ! cargo auditable --version >/dev/null 2>&1 || ! command -v rust-audit-info >/dev/null; then
    started=$SECONDS
    cargo install --locked --debug --quiet --root "$root/.ci/tools" cargo-auditable rust-audit-info
    echo "installed in $((SECONDS - started))s"
  fi
  cargo auditable --version

  step "static build with its SBOM (profile ${STATIC_PROFILE:-release})"
  build_log="$out/build-static.log"
  scripts/build-static.sh | tee "$build_log"
  bin="$(tail -n1 "$build_log")"
  # The SBOM must be there and name what the binary is made of: the operator and its Kubernetes client.
  rust-audit-info "$bin" >"$out/sbom.json" || { echo "no SBOM embedded in $bin" >&2; exit 1; }
  for crate in conplus-operator kube-client k8s-openapi rustls; do
    grep -q "\"name\":\"$crate\"" "$out/sbom.json" \
      || { echo "the SBOM embedded in $bin does not list $crate" >&2; exit 1; }
  done
  echo "ok: SBOM of $(grep -o '"name":' "$out/sbom.json" | wc -l) crates embedded and readable"
fi

step "ship checks passed"
