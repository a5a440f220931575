#!/usr/bin/env bash
# Installs the Debian packages the tests need, and only those that are missing:
# - the shellcheck package lints every hack/**/*.sh (tests/unit/test_scripts.py);
# - the local cluster's real node (hack/cluster/node.sh): libseccomp-dev and pkg-config to build
#   runc with seccomp, nftables for kube-proxy's rules and the node's forwarding filter, openssl
#   for the cluster's certificates, iproute2 for the bridge, gettext-base (envsubst) for the
#   node's configuration files, curl for its health checks.
# With everything present it changes nothing and needs neither root nor the network.
set -euo pipefail

fail() { echo "hack/system-deps.sh: $*" >&2; exit 1; }

missing=()
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v pkg-config >/dev/null || missing+=(pkg-config)
pkg-config --exists libseccomp 2>/dev/null || missing+=(libseccomp-dev)
command -v nft >/dev/null || missing+=(nftables)
command -v openssl >/dev/null || missing+=(openssl)
command -v ip >/dev/null || missing+=(iproute2)
command -v envsubst >/dev/null || missing+=(gettext-base)
command -v curl >/dev/null || missing+=(curl)

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
