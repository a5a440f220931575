# shellcheck shell=bash disable=SC2154  # sourced by cluster.sh: it sets here, root, state, cluster_pki
# The local cluster's real node (sourced by cluster.sh): a kubelet registered as a Node beside
# the kwok nodes, with containerd and runc running real containers from a registry on
# 127.0.0.1:5000 (and a private one on 127.0.0.1:5001), pods on a bridge of their own, kube-proxy for Service IPs and CoreDNS for
# cluster.local. Only one can exist on a machine: cluster.sh runs it for the default cluster
# (LIGHTSHIP_REAL_NODE=false turns it off there, =true turns it on for another cluster).
#
#   node_up     start it, or reuse a healthy one made from the same configuration
#   node_down   stop every process, remove every mount, interface, rule and cgroup it made,
#               and put back the host's sysctls
#
# Expects from cluster.sh: $here, $root, $state, $kubeconfig, say, fail, kc, and the cluster's
# PKI folder $cluster_pki (pki.sh).

source "$here/node-host.sh"

export NODE_NAME=real-node
export NODE_BRIDGE=lightship0
export NODE_IP=10.88.0.1
export NODE_POD_CIDR=10.88.0.0/16
export NODE_SERVICE_CIDR=10.96.0.0/16 # kwokctl.yaml: service-cluster-ip-range
export NODE_REGISTRY=127.0.0.1:5000
export NODE_PRIVATE_REGISTRY=127.0.0.1:5001 # needs credentials (node-images.sh)
export NODE_STATE="$state/node"
export NODE_BIN NODE_CGROUP NODE_PKI REGISTRY_BIN
NODE_COMPONENTS=(namespace registry private-registry containerd kubelet kube-proxy coredns)

# node_spawn NAME COMMAND...: a daemon of the node, in the node's cgroup, its own session,
# its log in $NODE_STATE/logs and its pid in $NODE_STATE/pids.
node_spawn() {
  local name=$1; shift
  # The daemon must not hold node_up's lock (an inherited descriptor would).
  (exec {node_lock}>&- && node_cgroup_join "$BASHPID" && exec setsid "$@") \
    >"$NODE_STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$NODE_STATE/pids/$name.pid"
}

node_alive() {
  local pid
  pid=$(cat "$NODE_STATE/pids/$1.pid" 2>/dev/null) && [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# node_wait SECONDS WHAT COMMAND...: until COMMAND succeeds; fails naming WHAT and the logs.
node_wait() {
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "the real node: $what did not happen within the time; logs: $NODE_STATE/logs/"
    sleep 0.2
  done
}

node_ready() {
  [[ $(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

node_healthy() {
  local component
  for component in "${NODE_COMPONENTS[@]}"; do node_alive "$component" || return 1; done
  node_ready && curl -fsS http://127.0.0.1:8181/ready && curl -fsS http://127.0.0.1:10256/healthz \
    && curl -fsS "http://$NODE_REGISTRY/v2/" && node_private_registry_answers
} >/dev/null 2>&1

# node_kubeconfig NAME USER: a kubeconfig for one of the node's components, with a client
# certificate for USER (CN, and O for groups) signed by the cluster CA, kept beside it.
node_kubeconfig() {
  local name=$1 subject=$2 server
  pki_sign "$NODE_PKI" "node-$name" "$subject" clientAuth
  server=$(kc config view --minify -o 'jsonpath={.clusters[0].cluster.server}')
  cat >"$NODE_STATE/config/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "$server", certificate-authority: "$NODE_PKI/ca.crt"}}]
users: [{name: $name, user: {client-certificate: "$NODE_PKI/node-$name.crt", client-key: "$NODE_PKI/node-$name.key"}}]
contexts: [{name: local, context: {cluster: local, user: $name}}]
current-context: local
EOF
}

# The node's configuration, rendered into DIR: what decides whether a running node is reused.
node_render() {
  local dir=$1 file registry
  mkdir -p "$dir/cni"
  for file in containerd.toml kubelet.yaml kube-proxy.yaml Corefile cni.conflist private-registry.yml; do
    # shellcheck disable=SC2016  # the names of the variables envsubst may replace
    envsubst "$(printf '${%s} ' "${!NODE_@}")" <"$here/node/config/$file" >"$dir/$file"
  done
  mv "$dir/cni.conflist" "$dir/cni/10-lightship.conflist" # containerd reads a folder of them
  # The local registries speak plain HTTP.
  for registry in "$NODE_REGISTRY" "$NODE_PRIVATE_REGISTRY"; do
    mkdir -p "$dir/certs.d/$registry"
    printf 'server = "http://%s"\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' \
      "$registry" "$registry" >"$dir/certs.d/$registry/hosts.toml"
  done
  # A new cluster CA, new binaries or new image sources make a new node too.
  { sha256sum "$NODE_PKI/ca.crt"; echo "$NODE_BIN $REGISTRY_BIN"; node_image_sources; } >"$dir/inputs"
}

node_up() {
  NODE_PKI=$cluster_pki
  NODE_BIN=$("$here/build.sh" node)
  REGISTRY_BIN=$("$here/build.sh" registry)
  NODE_CGROUP="$(node_run_cgroup)/lightship-node"
  mkdir -p "$state"
  exec {node_lock}>"$state/node.lock"
  flock "$node_lock"
  local rendered
  rendered=$(mktemp -d "$state/node-config.XXXXXX")
  # shellcheck disable=SC2064  # the folder of this call
  trap "rm -rf '$rendered'" EXIT
  node_render "$rendered"
  if node_healthy && diff -qr "$rendered" "$NODE_STATE/config.rendered" >/dev/null 2>&1; then
    rm -rf "$rendered"
    say "reusing the running real node"
  else
    node_down
    node_start "$rendered"
  fi
  exec {node_lock}>&-
}

node_start() {
  local start=$SECONDS
  mkdir -p "$NODE_STATE"/{logs,pids,config}
  mv "$1" "$NODE_STATE/config.rendered"
  cp -r "$NODE_STATE/config.rendered/." "$NODE_STATE/config/"
  node_host_record
  echo "$NODE_CGROUP" >"$NODE_STATE/host/cgroup"
  node_cgroup_create "$NODE_CGROUP/system"
  node_network_up
  node_namespace_up

  node_spawn registry "$NODE_BIN/crane" registry serve --address "$NODE_REGISTRY"
  node_wait 30 "the registry on $NODE_REGISTRY" curl -fsS "http://$NODE_REGISTRY/v2/"
  node_images_push
  node_private_registry_up

  kc apply -f "$here/node/config/rbac.yaml" >/dev/null
  node_kubeconfig kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
  node_kubeconfig kube-proxy "/CN=system:kube-proxy"
  node_kubeconfig coredns "/CN=lightship:coredns"

  local enter=(nsenter "--mount=/proc/$(<"$NODE_STATE/pids/namespace.pid")/ns/mnt" --)
  node_spawn containerd "${enter[@]}" env "PATH=$NODE_BIN:$PATH" \
    "$NODE_BIN/containerd" --config "$NODE_STATE/config/containerd.toml"
  node_wait 30 "containerd's socket" node_in_namespace test -S /run/containerd/containerd.sock
  node_spawn kubelet "${enter[@]}" "$NODE_BIN/kubelet" \
    --config "$NODE_STATE/config/kubelet.yaml" --kubeconfig "$NODE_STATE/config/kubelet.kubeconfig" \
    --root-dir "$NODE_STATE/kubelet" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --node-labels lightship.dev/node=real
  node_spawn kube-proxy "$NODE_BIN/kube-proxy" --config "$NODE_STATE/config/kube-proxy.yaml"
  node_spawn coredns "$NODE_BIN/coredns" -conf "$NODE_STATE/config/Corefile"
  node_wait 120 "the Node $NODE_NAME becoming Ready" node_ready
  node_wait 60 "CoreDNS ready" curl -fsS http://127.0.0.1:8181/ready
  node_wait 60 "kube-proxy healthy" curl -fsS http://127.0.0.1:10256/healthz
  say "real node $NODE_NAME up in $((SECONDS - start)) s"
}

node_down() {
  [[ -d "$NODE_STATE" ]] || return 0
  # The cgroup of the run that started the node, which may not be this one's.
  NODE_CGROUP=$(cat "$NODE_STATE/host/cgroup" 2>/dev/null) || NODE_CGROUP="$(node_run_cgroup)/lightship-node"
  # The kubelet first, so that it starts nothing while the rest stops.
  if node_alive kubelet; then
    kill -TERM "$(<"$NODE_STATE/pids/kubelet.pid")"
    node_wait 15 "the kubelet stopping" bash -c "! kill -0 $(<"$NODE_STATE/pids/kubelet.pid")"
  fi
  node_cgroups_remove
  node_network_down
  kc delete node "$NODE_NAME" --ignore-not-found --wait=false --request-timeout=10s >/dev/null 2>&1 || true
  # Its mounts lived in its namespace only; one seen here would make the removal below reach
  # through it, so stop and say so instead.
  if grep -qF "$NODE_STATE" /proc/self/mountinfo; then
    fail "the real node left mounts on the host (grep $NODE_STATE /proc/self/mountinfo)"
  fi
  rm -rf "$NODE_STATE"
}

source "$here/node-images.sh"
