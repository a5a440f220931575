#!/usr/bin/env bash
# Builds the binaries of the local cluster from the pinned Go modules beside this script:
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl (hack/cluster/kubernetes),
# etcd (hack/cluster/etcd) and kwok + kwokctl (hack/cluster/kwok).
#
# They go into ${XDG_CACHE_HOME:-$HOME/.cache}/lightship/<versions>/bin, once: a later run finds
# them there and returns at once. A build happens in a temporary folder that is moved into place
# only when every binary is built, so a failed or interrupted build never leaves a cache that
# looks complete. Prints the bin folder on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/versions.sh"

fail() { echo "hack/cluster/build.sh: $*" >&2; exit 1; }

binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl)
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/lightship"
target=$(dirname "$CLUSTER_BIN")

complete() {
  [[ -f "$1/.complete" ]] || return 1
  for b in "${binaries[@]}"; do [[ -x "$1/bin/$b" ]] || return 1; done
}

if complete "$target"; then
  echo "$target/bin"
  exit 0
fi

command -v go >/dev/null || fail "go is not installed: install Go >= $GO_MIN (https://go.dev/doc/install) or point KUBECONFIG at an existing cluster"
go_version=$(go env GOVERSION | sed 's/^go//')
[[ "$(printf '%s\n%s\n' "$GO_MIN" "$go_version" | sort -V | head -n1)" == "$GO_MIN" ]] \
  || fail "go $go_version is too old: kwok $KWOK_VERSION needs Go >= $GO_MIN"

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
start=$SECONDS

build() { # module-dir description go-build-args...
  local module=$1 what=$2; shift 2
  echo "building $what (this is the slow part of a first run) ..." >&2
  (cd "$here/$module" && go mod download) \
    || fail "could not download the Go modules of $what: check access to the Go module proxy (GOPROXY=$(go env GOPROXY))"
  (cd "$here/$module" && go build -trimpath -o "$work/bin/" "$@") \
    || fail "building $what failed (see the go output above)"
}

kube_minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
  stamp+=" -X $pkg.gitTreeState=clean"
done
build kubernetes "Kubernetes v$KUBE_VERSION" -ldflags "-s -w$stamp" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
build etcd "etcd v$ETCD_VERSION" -ldflags "-s -w" .
build kwok "kwok v$KWOK_VERSION" \
  -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=v$KUBE_VERSION" \
  sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl

"$work/bin/kube-apiserver" --version | grep -q "v$KUBE_VERSION" || fail "kube-apiserver is not stamped v$KUBE_VERSION"
echo "built in $((SECONDS - start)) s" >&2
touch "$work/.complete"
rm -rf "$target"
mv "$work" "$target"
trap - EXIT
echo "$target/bin"
