#!/usr/bin/env bash
# Builds helm from the pinned Go module beside this script (go.mod's `tool` line and go.sum),
# into ${XDG_CACHE_HOME:-$HOME/.cache}/lightship/helm-v<version>/bin/helm, once: a later run
# finds it there and returns at once. The build happens in a temporary folder that is moved
# into place only when the binary is built and reports its version, so a failed or interrupted
# build never leaves a cache that looks complete. Prints the bin folder on stdout; progress goes
# to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fail() { echo "hack/helm/build.sh: $*" >&2; exit 1; }

command -v go >/dev/null || fail "go is not installed: install Go >= 1.26 (https://go.dev/doc/install)"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
cd "$here"
version=$(go list -m -f '{{.Version}}' helm.sh/helm/v3) \
  || fail "could not read helm's version from hack/helm/go.mod: check access to the Go module proxy (GOPROXY=$(go env GOPROXY))"
target="${XDG_CACHE_HOME:-$HOME/.cache}/lightship/helm-$version"

if [[ -f "$target/.complete" && -x "$target/bin/helm" ]]; then
  echo "$target/bin"
  exit 0
fi

mkdir -p "$(dirname "$target")"
work=$(mktemp -d "$(dirname "$target")/.build-helm.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
start=$SECONDS

echo "building helm $version ..." >&2
go mod download || fail "could not download the Go modules of helm: check access to the Go module proxy (GOPROXY=$(go env GOPROXY))"
# As helm's own Makefile stamps a release: its version, and the Kubernetes version its lint
# and `helm template` assume (client-go v0.X.Y is Kubernetes 1.X).
kube_minor=$(go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)
pkg=helm.sh/helm/v3
ldflags="-s -w -X $pkg/internal/version.version=$version -X $pkg/internal/version.gitTreeState=clean"
for p in pkg/lint/rules pkg/chartutil; do
  ldflags+=" -X $pkg/$p.k8sVersionMajor=1 -X $pkg/$p.k8sVersionMinor=$kube_minor"
done
nice go build -trimpath -ldflags "$ldflags" -o "$work/bin/helm" "$pkg/cmd/helm" \
  || fail "building helm failed (see the go output above)"

"$work/bin/helm" version --short | grep -q "^$version" || fail "helm does not report $version"
echo "built helm in $((SECONDS - start)) s" >&2
touch "$work/.complete"
rm -rf "$target"
mv "$work" "$target"
trap - EXIT
echo "$target/bin"
