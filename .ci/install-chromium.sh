#!/usr/bin/env bash
# Installs Debian's headless Chromium for the inventory page test (tests/inventory.rs), unless a
# chromium is already on the PATH. Needs root (or sudo) and Debian's package registry.
set -euo pipefail
if command -v chromium > /dev/null; then
  echo "chromium already installed: $(command -v chromium)"
  exit 0
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q chromium > /dev/null 2>&1 \
  || { $sudo apt-get update -q > /dev/null && $sudo apt-get install -y -q chromium > /dev/null; }
chromium --version
