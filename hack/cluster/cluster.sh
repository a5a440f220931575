#!/usr/bin/env bash
# The local cluster: real kube-apiserver, etcd, kube-controller-manager and kube-scheduler built
# from their Go modules (build.sh), run by kwokctl's binary runtime, with kwok simulating two nodes,
# and one real node (node.sh: kubelet, containerd, registry, cluster DNS) for the default cluster.
#
#   cluster.sh up     start the cluster, or reuse a healthy one; a broken one is replaced
#   cluster.sh down   stop it and remove its state
#   cluster.sh node-down, node-up   the real node alone (tests/integration/test_real_node_cleanup.py)
#
# State lives in .cluster/ of the checkout (git-ignored); the kubeconfig is .cluster/kubeconfig.
# LIGHTSHIP_CLUSTER=NAME runs another cluster beside it (the benchmarks use their own), with
# its kubeconfig at .cluster/NAME.kubeconfig, and no real node unless LIGHTSHIP_REAL_NODE=true
# (only one real node can exist on a machine).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
state="$root/.cluster"
name=${LIGHTSHIP_CLUSTER:-lightship}
if [[ "$name" == lightship ]]; then prefix="$state/"; else prefix="$state/$name."; fi
kubeconfig="${prefix}kubeconfig"
config_file="${prefix}kwokctl.yaml"
export KWOK_WORKDIR="$state/kwok"

say() { echo "cluster: $*" >&2; }
fail() { say "$*"; exit 1; }

source "$here/versions.sh"
bin="$CLUSTER_BIN"
# kwokctl finds kubectl on PATH to wait for the API; without it kwokctl would try to download one.
export PATH="$bin:$PATH"
kc() { kubectl --kubeconfig "$kubeconfig" "$@"; }
source "$here/gateway.sh"

source "$here/pki.sh"
cluster_pki="$KWOK_WORKDIR/clusters/$name/pki"
if [[ "$name" == lightship ]]; then real_node=${LIGHTSHIP_REAL_NODE:-true}; else real_node=${LIGHTSHIP_REAL_NODE:-false}; fi
if [[ "$real_node" == true ]]; then source "$here/node.sh"; fi

healthy() {
  [[ -f "$kubeconfig" ]] && kc get --raw=/readyz >/dev/null 2>&1 \
    && [[ $(kc get nodes -l type=kwok --no-headers 2>/dev/null | grep -cw Ready) -ge 2 ]]
}

known() { kwokctl get clusters 2>/dev/null | grep -qx "$name"; }

wait_ready() { # seconds
  local deadline=$((SECONDS + $1))
  until kc get --raw=/readyz >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}

add_nodes() {
  kc apply -f "$here/nodes.yaml" >/dev/null && kc wait --for=condition=Ready node -l type=kwok --timeout=60s >/dev/null
}

# kwok's default stages (node initialisation and heartbeat, pod ready/complete/delete) are read from
# the pinned kwok module rather than copied: a config that holds any Stage replaces the defaults.
config() {
  local kwok_dir
  kwok_dir=$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok) \
    || fail "could not locate the kwok module: run 'cd hack/cluster/kwok && go mod download'"
  cat "$here/kwokctl.yaml"
  for stage in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
               pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    printf -- '---\n'
    cat "$kwok_dir/kustomize/stage/$stage"
  done
  printf -- '---\n'
  cat "$here/stages/simulated-failures.yaml"
}

up() {
  control_plane_up
  if [[ "$real_node" == true ]]; then node_up; fi
}

control_plane_up() {
  "$here/build.sh" >/dev/null
  mkdir -p "$state"
  # One file per call: concurrent calls (test sessions sharing the cluster) must not see each
  # other's half-written configuration and take it for a changed one.
  local new
  new=$(mktemp "$config_file.XXXXXX")
  config >"$new"
  # A running cluster is reused only when it was made from this configuration.
  if healthy && cmp -s "$config_file" "$new"; then
    rm -f "$new"
    say "reusing the running cluster ($kubeconfig)"
    return
  fi
  if known; then
    if cmp -s "$config_file" "$new"; then
      say "found a cluster that is not healthy; trying to start it"
      if kwokctl start cluster --name "$name" >&2 && wait_ready 60 && add_nodes && healthy; then
        rm -f "$new"
        say "restarted ($kubeconfig)"
        return
      fi
      say "replacing the broken cluster"
    else
      say "replacing the cluster: its configuration changed"
    fi
    kwokctl delete cluster --name "$name" >&2 || true
  fi
  rm -f "$kubeconfig"
  mv "$new" "$config_file"
  pki_create "$cluster_pki"
  local start=$SECONDS
  kwokctl create cluster --name "$name" --config "$config_file" --kubeconfig "$kubeconfig" \
    --kube-apiserver-binary "$bin/kube-apiserver" \
    --kube-controller-manager-binary "$bin/kube-controller-manager" \
    --kube-scheduler-binary "$bin/kube-scheduler" \
    --kwok-controller-binary "$bin/kwok" \
    --etcd-binary "$bin/etcd" \
    --kube-audit-policy "$here/audit-policy.yaml" \
    --timeout 5m --wait 2m >&2 \
    || fail "kwokctl could not create the cluster; logs: $KWOK_WORKDIR/clusters/$name/logs/"
  if ! { add_nodes && healthy; }; then
    fail "the cluster started but its simulated nodes are not Ready; logs: $KWOK_WORKDIR/clusters/$name/logs/"
  fi
  say "up in $((SECONDS - start)) s; export KUBECONFIG=$kubeconfig"
}

down() {
  if [[ "$real_node" == true ]]; then node_down; fi
  if [[ -x "$bin/kwokctl" ]] && known; then kwokctl delete cluster --name "$name" >&2; fi
  rm -f "$kubeconfig" "$config_file"
  say "down"
}

case "${1:-}" in
  up) up; gateway_up ;;
  down) gateway_down; down ;;
  node-up | node-down)
    [[ "$real_node" == true ]] || fail "the cluster $name has no real node (LIGHTSHIP_REAL_NODE=true gives it one)"
    "${1/-/_}" ;;
  *) echo "usage: $0 up|down|node-up|node-down" >&2; exit 2 ;;
esac
