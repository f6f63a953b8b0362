#!/usr/bin/env bash
# Builds the release binary of conplus-operator statically linked (x86_64-unknown-linux-gnu with
# crt-static; rustls + ring, no OpenSSL), proves that it is static and that it runs, and embeds its SBOM
# with `cargo auditable` when that is installed.
#
# Usage: scripts/build-static.sh            (CARGO_TARGET_DIR is honoured; default: ./target)
#        STATIC_PROFILE=ci-static scripts/build-static.sh
#                                            the same checks on an unoptimised build (what CI does: static
#                                            linking, the missing OpenSSL and the SBOM do not depend on the
#                                            optimisation level, and the optimised build of every crate is the
#                                            longest step of a cold CI run); the image uses the default, release
# Prints the path of the binary on the last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target=x86_64-unknown-linux-gnu
target_dir="${CARGO_TARGET_DIR:-$root/target}"
profile="${STATIC_PROFILE:-release}"
bin="$target_dir/$target/$profile/conplus-operator"

# No OpenSSL anywhere in the tree: kube is built with rustls and ring. `cargo tree -i` fails with "did not
# match any packages" when openssl-sys is not in the graph at all, which is what we want; any other outcome
# (found, or cargo tree failing for another reason) fails the build.
tree_out="$(cargo tree -p conplus-operator --target "$target" -e normal,build -i openssl-sys 2>&1 || true)"
if [[ "$tree_out" != *"did not match any packages"* ]]; then
  echo "error: openssl-sys is in the dependency tree (or cargo tree failed); build kube with rustls-tls and ring only:" >&2
  echo "$tree_out" >&2
  exit 1
fi
echo "ok: no openssl-sys in the dependency tree"

# crt-static links glibc statically. The explicit --target keeps the flag away from build scripts and
# proc macros, which must stay dynamic.
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
build=(build --profile "$profile" --locked --target "$target" -p conplus-operator --bin conplus-operator)
if cargo auditable --version >/dev/null 2>&1; then
  # The SBOM: the dependency tree, embedded in the binary's .dep-v0 section.
  cargo auditable "${build[@]}"
  sbom=embedded
else
  echo "warning: cargo-auditable is not installed (cargo install --locked cargo-auditable); building without the embedded SBOM" >&2
  cargo "${build[@]}"
  sbom=none
fi

[[ -x "$bin" ]] || { echo "error: $bin was not built" >&2; exit 1; }

# Static: `file` says "statically linked" (or "static-pie linked"), and ldd finds no libraries.
desc="$(file -b "$bin")"
case "$desc" in
  *"statically linked"*|*"static-pie linked"*) echo "ok: $desc" ;;
  *) echo "error: $bin is not static: $desc" >&2; exit 1 ;;
esac
if ldd_out="$(ldd "$bin" 2>&1)"; then
  case "$ldd_out" in
    *"statically linked"*|*"not a dynamic executable"*) ;;
    *) echo "error: ldd lists shared libraries:" >&2; echo "$ldd_out" >&2; exit 1 ;;
  esac
fi
echo "ok: ldd finds no shared libraries"

# It runs: FROM scratch has nothing else to offer it.
version="$("$bin" --version)"
expected="conplus-operator $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
[[ "$version" == "$expected" ]] || { echo "error: --version printed '$version', expected '$expected'" >&2; exit 1; }
echo "ok: $version"

if [[ "$sbom" == embedded ]]; then
  # The section exists and holds the dependency list (zlib-compressed JSON).
  if command -v objdump >/dev/null && ! objdump -h "$bin" | grep -q '\.dep-v0'; then
    echo "error: cargo auditable ran but the binary has no .dep-v0 section" >&2
    exit 1
  fi
  echo "ok: SBOM embedded (.dep-v0)"
fi
echo "$bin"
