#!/usr/bin/env bash
# Installs the Debian packages the unit tests need, and only those that are missing:
# - lua5.4 and lua-cjson run manifests/argocd/health.lua (tests/unit/test_argocd_health.py);
# - the shellcheck package lints every hack/**/*.sh (tests/unit/test_scripts.py).
# With everything present it changes nothing and needs neither root nor the network.
set -euo pipefail

fail() { echo "hack/system-deps.sh: $*" >&2; exit 1; }

missing=()
command -v lua5.4 >/dev/null || missing+=(lua5.4)
# cjson is a library, not a command: ask the interpreter, which works on any distribution.
lua5.4 -e 'require "cjson"' >/dev/null 2>&1 || missing+=(lua-cjson)
command -v shellcheck >/dev/null || missing+=(shellcheck)

((${#missing[@]} == 0)) && exit 0

command -v apt-get >/dev/null \
  || fail "apt-get not found: install ${missing[*]} with your system's package manager"
if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  fail "need root or sudo to install ${missing[*]}"
fi

echo "hack/system-deps.sh: installing ${missing[*]}" >&2
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
