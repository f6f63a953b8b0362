#!/usr/bin/env bash
# A real Kubernetes control plane for the tests: etcd, kube-apiserver and kube-controller-manager
# from the Kubernetes release pinned in tests/control-plane/go.mod, in one process on 127.0.0.1.
#
#   scripts/control-plane.sh build                      build once (cached), print the binary's path
#   scripts/control-plane.sh up --kubeconfig PATH       start in the background, wait until ready
#        [--owner-pid PID] [--timeout SECONDS]          (stop by itself once PID has exited)
#   scripts/control-plane.sh down --kubeconfig PATH     stop the one started with that kubeconfig
#
# The binary is cached per Kubernetes version (and per source of tests/control-plane) under
# ${XDG_CACHE_HOME:-$HOME/.cache}/conplus-operator/control-plane/<version>/. Go's own caches
# (GOMODCACHE, GOCACHE) are used as they are. Beside the kubeconfig: PATH.pid and PATH.log.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/tests/control-plane"

die() {
  echo "control-plane: $*" >&2
  exit 1
}

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The pinned Kubernetes release, e.g. v1.35.4: the single source is go.mod.
version() {
  awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v1\./ { print $2; exit }' "$src/go.mod"
}

# Builds the binary unless it is cached; prints its path on stdout.
build() {
  command -v go > /dev/null || die "Go is not installed (needed to build the control plane; https://go.dev/dl)"
  local v hash dir bin
  v="$(version)"
  [[ -n "$v" ]] || die "no k8s.io/kubernetes version in $src/go.mod"
  local minor="${v#v1.}"
  minor="${minor%%.*}"
  local pkg=k8s.io/component-base/version
  # kube-apiserver reports its version from these variables (`kubectl version`, /version), which
  # Kubernetes' own build sets the same way. The build date is the release's, as the module
  # proxy records it, so that the binary does not depend on when it was built.
  local ldflags="-s -w -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.gitCommit="
  hash="$( (cat "$src"/go.mod "$src"/go.sum "$src"/*.go; echo "$ldflags") | sha256sum | cut -c1-12)"
  dir="${XDG_CACHE_HOME:-$HOME/.cache}/conplus-operator/control-plane/$v"
  bin="$dir/control-plane-$hash"
  mkdir -p "$dir"
  # One build at a time (several test binaries may ask at once); the others wait and reuse it.
  exec 9> "$dir/.lock"
  flock 9
  if [[ ! -x "$bin" ]]; then
    local released
    released="$(cd "$src" && go list -m -f '{{with .Time}}{{.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)" \
      || die "go list failed in $src"
    [[ -n "$released" ]] && ldflags+=" -X $pkg.buildDate=$released"
    local started=$SECONDS
    echo "control-plane: building kube-apiserver, kube-controller-manager and etcd of Kubernetes $v (a cold build takes many minutes)" >&2
    (cd "$src" && go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$bin.partial" .) >&2 \
      || die "go build failed in $src"
    mv "$bin.partial" "$bin"
    # Builds of older sources of the same release are not used again.
    find "$dir" -maxdepth 1 -name 'control-plane-*' ! -name "$(basename "$bin")" -delete
    echo "control-plane: built $bin in $((SECONDS - started))s" >&2
  fi
  exec 9>&-
  echo "$bin"
}

up() {
  local kubeconfig="" owner="" timeout=180
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --kubeconfig) kubeconfig="${2:?--kubeconfig needs a path}"; shift 2 ;;
      --owner-pid) owner="${2:?--owner-pid needs a pid}"; shift 2 ;;
      --timeout) timeout="${2:?--timeout needs seconds}"; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ -n "$kubeconfig" ]] || usage
  mkdir -p "$(dirname "$kubeconfig")"
  kubeconfig="$(cd "$(dirname "$kubeconfig")" && pwd)/$(basename "$kubeconfig")"
  local pidfile="$kubeconfig.pid" log="$kubeconfig.log"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2> /dev/null; then
    die "already running (pid $(cat "$pidfile")) for $kubeconfig; run: $0 down --kubeconfig $kubeconfig"
  fi
  local bin
  bin="$(build)"
  rm -f "$kubeconfig" "$log"
  local args=(--kubeconfig "$kubeconfig" --start-timeout "${timeout}s")
  [[ -n "$owner" ]] && args+=(--exit-with "$owner")
  nohup "$bin" "${args[@]}" > "$log" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$pidfile"
  local deadline=$((SECONDS + timeout + 10))
  while ((SECONDS < deadline)); do
    if grep -q '^ready: ' "$log"; then
      echo "control-plane: $(grep -m1 '^ready: ' "$log") (pid $pid, log $log)"
      return 0
    fi
    if ! kill -0 "$pid" 2> /dev/null; then
      rm -f "$pidfile"
      echo "control-plane: it exited before it was ready; the end of $log:" >&2
      tail -n 40 "$log" >&2
      exit 1
    fi
    sleep 0.5
  done
  kill "$pid" 2> /dev/null || true
  rm -f "$pidfile"
  echo "control-plane: not ready within ${timeout}s; the end of $log:" >&2
  tail -n 40 "$log" >&2
  exit 1
}

down() {
  local kubeconfig=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --kubeconfig) kubeconfig="${2:?--kubeconfig needs a path}"; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ -n "$kubeconfig" ]] || usage
  local pidfile="$kubeconfig.pid"
  if [[ ! -f "$pidfile" ]]; then
    echo "control-plane: none running for $kubeconfig"
    return 0
  fi
  local pid
  pid="$(cat "$pidfile")"
  if kill -TERM "$pid" 2> /dev/null; then
    # It stops kube-controller-manager, kube-apiserver and etcd in turn and removes its data.
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2> /dev/null; then
      echo "control-plane: pid $pid did not stop within 30s; killing it" >&2
      kill -KILL "$pid" 2> /dev/null || true
    fi
  fi
  rm -f "$pidfile"
  echo "control-plane: stopped (pid $pid)"
}

case "${1:-}" in
  build) shift; build "$@" ;;
  up) shift; up "$@" ;;
  down) shift; down "$@" ;;
  version) version ;;
  *) usage ;;
esac
