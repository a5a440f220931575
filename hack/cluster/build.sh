#!/usr/bin/env bash
# Builds the binaries of the local cluster from the pinned Go modules beside this script.
#
#   build.sh        the control plane: kube-apiserver, kube-controller-manager, kube-scheduler
#                   and kubectl (kubernetes/), etcd (etcd/), kwok + kwokctl (kwok/)
#   build.sh node   the real node: kubelet and kube-proxy (kubernetes/), containerd and its runc
#                   shim, runc, the CNI plugins (bridge, host-local, loopback), crane and CoreDNS (node/*/)
#   build.sh registry   the real node's private registry: the distribution registry (node/registry/)
#
# They go into ${XDG_CACHE_HOME:-$HOME/.cache}/lightship/<versions>/bin, once: a later run finds
# them there and returns at once. A build happens in a temporary folder that is moved into place
# only when every binary is built, so a failed or interrupted build never leaves a cache that
# looks complete. Prints the bin folder on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/versions.sh"

fail() { echo "hack/cluster/build.sh: $*" >&2; exit 1; }

what=${1:-control-plane}
case "$what" in
  control-plane)
    binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl)
    target=$(dirname "$CLUSTER_BIN") ;;
  node)
    binaries=(kubelet kube-proxy containerd containerd-shim-runc-v2 runc crane coredns
              cni/bridge cni/host-local cni/loopback)
    target=$(dirname "$NODE_BIN") ;;
  registry)
    binaries=(registry)
    target=$(dirname "$REGISTRY_BIN") ;;
  *) fail "usage: build.sh [control-plane|node|registry]" ;;
esac
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/lightship"

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
  || fail "go $go_version is too old: the cluster's modules need Go >= $GO_MIN"

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
start=$SECONDS

build() { # module-dir description output-dir go-build-args...
  local module=$1 description=$2 out=$3; shift 3
  echo "building $description (this is the slow part of a first run) ..." >&2
  (cd "$here/$module" && go mod download) \
    || fail "could not download the Go modules of $description: check access to the Go module proxy (GOPROXY=$(go env GOPROXY))"
  mkdir -p "$out"
  (cd "$here/$module" && go build -trimpath -o "$out/" "$@") \
    || fail "building $description failed (see the go output above)"
}

kube_minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
kube_stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_stamp+=" -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
  kube_stamp+=" -X $pkg.gitTreeState=clean"
done

build_control_plane() {
  build kubernetes "Kubernetes v$KUBE_VERSION" "$work/bin" -ldflags "-s -w$kube_stamp" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  build etcd "etcd v$ETCD_VERSION" "$work/bin" -ldflags "-s -w" .
  build kwok "kwok v$KWOK_VERSION" "$work/bin" \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=v$KUBE_VERSION" \
    sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
  "$work/bin/kube-apiserver" --version | grep -q "v$KUBE_VERSION" || fail "kube-apiserver is not stamped v$KUBE_VERSION"
}

build_node() {
  # runc alone needs cgo: seccomp filters come from libseccomp (Debian libseccomp-dev).
  pkg-config --exists libseccomp \
    || fail "libseccomp's headers are missing (runc needs them): run 'make system-deps'"
  CGO_ENABLED=1 build node/runc "runc v$RUNC_VERSION" "$work/bin" -tags seccomp \
    -ldflags "-s -w -X main.version=$RUNC_VERSION" github.com/opencontainers/runc
  build node/containerd "containerd v$CONTAINERD_VERSION" "$work/bin" -tags "no_btrfs no_devmapper no_zfs" \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=v$CONTAINERD_VERSION" \
    github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
  local cni=github.com/containernetworking/plugins/plugins
  build node/cni "CNI plugins v$CNI_PLUGINS_VERSION" "$work/bin/cni" -ldflags "-s -w" \
    "$cni/main/bridge" "$cni/ipam/host-local" "$cni/main/loopback"
  build node/crane "crane v$CRANE_VERSION" "$work/bin" -ldflags "-s -w" \
    github.com/google/go-containerregistry/cmd/crane
  build node/coredns "CoreDNS v$COREDNS_VERSION" "$work/bin" -ldflags "-s -w" .
  build kubernetes "kubelet and kube-proxy v$KUBE_VERSION" "$work/bin" -ldflags "-s -w$kube_stamp" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
  "$work/bin/kubelet" --version | grep -q "v$KUBE_VERSION" || fail "kubelet is not stamped v$KUBE_VERSION"
}

build_registry() {
  build node/registry "the distribution registry v$DISTRIBUTION_VERSION" "$work/bin" \
    -ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=v$DISTRIBUTION_VERSION" .
}

case "$what" in
  node) build_node ;;
  registry) build_registry ;;
  *) build_control_plane ;;
esac
echo "built $what in $((SECONDS - start)) s" >&2
touch "$work/.complete"
rm -rf "$target"
mv "$work" "$target"
trap - EXIT
echo "$target/bin"
