# shellcheck shell=bash disable=SC2034  # sourced: the scripts and the Makefile that source it use these
# The pinned versions of the local cluster; the Go modules beside this file must agree.
# Kubernetes: the newest of v1.37.2 / v1.36.3 / v1.35.4 that builds here (v1.37.2 does).
KUBE_VERSION=1.37.2
ETCD_VERSION=3.6.16
KWOK_VERSION=0.8.0
GO_MIN=1.26.8 # the CNI plugins v1.10.0 need it; kwok v0.8.0 needs 1.26
CLUSTER_VERSIONS="k8s-v${KUBE_VERSION}-etcd-v${ETCD_VERSION}-kwok-v${KWOK_VERSION}"
CLUSTER_BIN="${XDG_CACHE_HOME:-$HOME/.cache}/lightship/${CLUSTER_VERSIONS}/bin"
# The gateway (build-gateway.sh): Traefik Proxy, and the Gateway API version its go.mod pins.
TRAEFIK_VERSION=3.7.13
GATEWAY_API_VERSION=1.6.1
GATEWAY_BIN="${XDG_CACHE_HOME:-$HOME/.cache}/lightship/traefik-v${TRAEFIK_VERSION}-gateway-api-v${GATEWAY_API_VERSION}/bin"
# The real node (hack/cluster/node.sh); its pieces are built from the modules under node/ and
# from the Kubernetes module above (kubelet, kube-proxy).
CONTAINERD_VERSION=2.4.2
RUNC_VERSION=1.5.3
CNI_PLUGINS_VERSION=1.10.0
CRANE_VERSION=0.22.1
COREDNS_VERSION=1.15.0
NODE_VERSIONS="node-k8s-v${KUBE_VERSION}-containerd-v${CONTAINERD_VERSION}-runc-v${RUNC_VERSION}"
NODE_VERSIONS+="-cni-v${CNI_PLUGINS_VERSION}-crane-v${CRANE_VERSION}-coredns-v${COREDNS_VERSION}"
NODE_BIN="${XDG_CACHE_HOME:-$HOME/.cache}/lightship/${NODE_VERSIONS}/bin"
# The real node's private registry (node-images.sh): the distribution registry, built apart from
# the node's other pieces so that adding it did not make them build again.
DISTRIBUTION_VERSION=3.1.2
REGISTRY_BIN="${XDG_CACHE_HOME:-$HOME/.cache}/lightship/registry-distribution-v${DISTRIBUTION_VERSION}/bin"
