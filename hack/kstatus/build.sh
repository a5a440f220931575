#!/usr/bin/env bash
# Builds the kstatus harness (main.go) from the pinned go.mod/go.sum into the cache, keyed by
# the cli-utils version, and prints the binary's path. A later run finds it there and returns at
# once. As the cluster's builds do, it is built in a temporary folder and moved into place only
# when complete; `nice`, so that it never starves the cluster on a small machine.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(awk '$1 == "sigs.k8s.io/cli-utils" { print $2 }' "$here/go.mod")
[[ -n "$version" ]] || { echo "hack/kstatus/build.sh: no cli-utils in go.mod" >&2; exit 1; }
target="${XDG_CACHE_HOME:-$HOME/.cache}/lightship/kstatus-cli-utils-$version"
if [[ -x "$target/kstatus" ]]; then
  echo "$target/kstatus"
  exit 0
fi
mkdir -p "$(dirname "$target")"
work=$(mktemp -d "$(dirname "$target")/.kstatus-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$here" && nice go build -mod=readonly -trimpath -o "$work/kstatus" .) >&2
rm -rf "$target"
mv "$work" "$target"
trap - EXIT
echo "$target/kstatus"
