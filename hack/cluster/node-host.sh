# shellcheck shell=bash
# What the real node changes on the host, and how cluster-down puts it back (sourced by node.sh):
# the node's cgroups, its mount namespace, the pod bridge, the forwarding filter and the
# sysctls. Each change is recorded in $NODE_STATE/host before it is made, so that
# node_host_restore undoes exactly what was done, even after a half-finished start.

# Sysctls anything of the node could change: the kubelet's kernel defaults (which it only checks
# here, protectKernelDefaults), forwarding (turned on for Service traffic), kube-proxy's
# conntrack and localhost settings (configured to leave them alone), the bridge's netfilter.
NODE_SYSCTLS=(
  vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes
  net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv4.conf.default.forwarding
  net.ipv4.conf.all.route_localnet net.netfilter.nf_conntrack_max
  net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_timeout_close_wait
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
)
# The values the kubelet expects (k8s.io/component-helpers/node/util/sysctl), shown to it in the
# node's mount namespace instead of being written to the host.
NODE_KUBELET_SYSCTLS=(vm.overcommit_memory=1 vm.panic_on_oom=0 kernel.panic=10
                      kernel.panic_on_oops=1 kernel.keys.root_maxkeys=1000000
                      kernel.keys.root_maxbytes=25000000)
NODE_NFT_TABLE=lightship-node

sysctl_path() { echo "/proc/sys/${1//.//}"; }

# The cgroup the cluster script runs in: the memory controller's on cgroup v1 (the one that
# accounts for, and ends, a run), the unified one on v2.
node_run_cgroup() {
  local line
  line=$(grep -E '^[0-9]+:memory:' /proc/self/cgroup || grep -E '^0::' /proc/self/cgroup)
  line=${line#*:*:}
  echo "${line%/}"
}

# Every cgroup hierarchy mounted on the host: one per v1 controller, and the v2 one (on a v1
# host too, where runc makes the containers' cgroups in it as well).
node_hierarchies() {
  awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts
}

node_host_record() {
  mkdir -p "$NODE_STATE/host"
  local key
  for key in "${NODE_SYSCTLS[@]}"; do
    [[ -r $(sysctl_path "$key") ]] && echo "$key=$(<"$(sysctl_path "$key")")"
  done >"$NODE_STATE/host/sysctls"
}

# node_cgroup_create PATH: PATH in every hierarchy, each level that did not exist recorded.
# cpuset levels get their parent's CPUs and memory nodes (v1 starts them empty).
node_cgroup_create() {
  local hierarchy part dir parts f
  while read -r hierarchy; do
    dir=$hierarchy
    IFS=/ read -ra parts <<<"${1#/}"
    for part in "${parts[@]}"; do
      [[ -d "$dir/$part" ]] || {
        mkdir "$dir/$part" && echo "$dir/$part" >>"$NODE_STATE/host/cgroups"
        for f in cpuset.cpus cpuset.mems; do
          [[ -f "$dir/$f" ]] && cat "$dir/$f" >"$dir/$part/$f"
        done
      }
      dir+="/$part"
    done
  done < <(node_hierarchies)
}

# The pids of every process in the node's cgroups, in any hierarchy.
node_cgroup_pids() {
  local hierarchy
  while read -r hierarchy; do
    [[ -d "$hierarchy$NODE_CGROUP" ]] && find "$hierarchy$NODE_CGROUP" -name cgroup.procs -exec cat {} +
  done < <(node_hierarchies) | sort -u
}

# node_cgroup_join PID: the process into the node's "system" cgroup of every hierarchy.
node_cgroup_join() {
  local hierarchy
  while read -r hierarchy; do
    echo "$1" >"$hierarchy$NODE_CGROUP/system/cgroup.procs"
  done < <(node_hierarchies)
}

# Ends every process of the node's cgroups (TERM, then KILL), then removes the cgroups: the
# kubelet's pod cgroups below the node's, then the levels node_cgroup_create made.
node_cgroups_remove() {
  local deadline=$((SECONDS + 15)) pids
  mapfile -t pids < <(node_cgroup_pids)
  ((${#pids[@]} == 0)) || kill -TERM "${pids[@]}" 2>/dev/null || true
  while mapfile -t pids < <(node_cgroup_pids) && ((${#pids[@]} > 0)); do
    ((SECONDS < deadline)) || kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.2
  done
  local hierarchy
  while read -r hierarchy; do
    [[ -d "$hierarchy$NODE_CGROUP" ]] && find "$hierarchy$NODE_CGROUP" -depth -type d -exec rmdir {} +
  done < <(node_hierarchies)
  [[ -f "$NODE_STATE/host/cgroups" ]] && tac "$NODE_STATE/host/cgroups" | while read -r dir; do
    [[ -d "$dir" ]] && rmdir "$dir"
  done
  rm -f "$NODE_STATE/host/cgroups"
}

# The node's mount namespace, held by a sleeping process: containerd and the kubelet run in
# it. /run, /var/lib and /var/log there are the node's own folders (their hard-wired paths:
# shim sockets, CNI state, container log links), and the kubelet's kernel settings read back
# as it wants them. Its mounts (the kubelet's, containerd's overlays) vanish with it.
node_namespace_up() {
  mkdir -p "$NODE_STATE/root/var/lib" "$NODE_STATE/root/var/log" "$NODE_STATE/sysctls"
  local setting mounts="mount -t tmpfs -o mode=755 node-run /run"
  mounts+=" && mount --bind '$NODE_STATE/root/var/lib' /var/lib"
  mounts+=" && mount --bind '$NODE_STATE/root/var/log' /var/log"
  for setting in "${NODE_KUBELET_SYSCTLS[@]}"; do
    echo "${setting#*=}" >"$NODE_STATE/sysctls/${setting%%=*}"
    mounts+=" && mount --bind '$NODE_STATE/sysctls/${setting%%=*}' $(sysctl_path "${setting%%=*}")"
  done
  # The mounts are made by the namespace's first process, after unshare and before anything
  # else runs in it: never in the host's namespace.
  node_spawn namespace unshare --mount --propagation private \
    sh -c "$mounts && touch '$NODE_STATE/namespace.ready' && exec sleep infinity"
  node_wait 10 "the node's mount namespace" test -f "$NODE_STATE/namespace.ready"
  local holder
  holder=$(<"$NODE_STATE/pids/namespace.pid")
  if ! grep -q ' /run .* - tmpfs node-run ' "/proc/$holder/mountinfo" \
     || grep -q ' - tmpfs node-run ' /proc/self/mountinfo; then
    fail "the real node's mount namespace is not as made (see /proc/$holder/mountinfo)"
  fi
}

node_in_namespace() { nsenter --mount="/proc/$(<"$NODE_STATE/pids/namespace.pid")/ns/mnt" -- "$@"; }

# The pod bridge (the node's address; the host reaches pods on-link), and forwarding for
# Service traffic only: kube-proxy translates a pod's request to a Service IP (routed to the
# host) into a pod address on the same bridge. Anything else that would be forwarded is dropped.
node_network_up() {
  ip link add "$NODE_BRIDGE" type bridge
  echo "$NODE_BRIDGE" >"$NODE_STATE/host/bridge"
  ip addr add "$NODE_IP/${NODE_POD_CIDR#*/}" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  nft -f - <<EOF
table inet $NODE_NFT_TABLE {
  chain forward {
    type filter hook forward priority filter; policy drop;
    iifname "$NODE_BRIDGE" oifname "$NODE_BRIDGE" accept
  }
}
EOF
  echo 1 >"$(sysctl_path net.ipv4.ip_forward)"
}

# Undoes node_network_up and kube-proxy's tables; the pods' veths went with their namespaces.
node_network_down() {
  node_sysctls_restore
  local table
  for table in "inet $NODE_NFT_TABLE" "ip kube-proxy" "ip6 kube-proxy"; do
    read -ra table <<<"$table"
    if nft list table "${table[@]}" >/dev/null 2>&1; then nft delete table "${table[@]}"; fi
  done
  local port
  for port in $(ip -o link show master "$NODE_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$port" 2>/dev/null || true
  done
  ip link show "$NODE_BRIDGE" >/dev/null 2>&1 && ip link del "$NODE_BRIDGE"
  rm -f "$NODE_STATE/host/bridge"
}

node_sysctls_restore() {
  [[ -f "$NODE_STATE/host/sysctls" ]] || return 0
  local key value
  while IFS='=' read -r key value; do
    [[ "$(<"$(sysctl_path "$key")")" == "$value" ]] || echo "$value" >"$(sysctl_path "$key")"
  done <"$NODE_STATE/host/sysctls"
}
