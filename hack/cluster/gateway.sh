# shellcheck shell=bash disable=SC2154  # name, prefix, here, cluster_pki: cluster.sh's, which sources this
# The gateway of the local cluster, sourced by cluster.sh: Traefik Proxy (build-gateway.sh) runs
# as a process beside the API server and serves every public host on https://127.0.0.1:8443,
# for Ingresses (its IngressClass is the cluster's default) and for Gateway API (the Gateway
# lightship-gateway/public, listener https, routes of every namespace), with a self-signed
# certificate made here. README: "The gateway".
#
#   gateway_up     after the cluster is up: start Traefik, or keep the one running with this
#                  configuration; install the CRDs, the GatewayClass, the Gateway, the IngressClass
#   gateway_down   stop Traefik and remove its files (its objects go with the cluster)
#
# Only the default cluster has it (one machine-wide port); LIGHTSHIP_CLUSTER_GATEWAY=true adds it
# to a side cluster, for work on the gateway itself while no default cluster runs one.
# Uses cluster.sh's name, prefix, kubeconfig, cluster_pki, here, say, fail and kc, and pki.sh.

GATEWAY_ADDRESS=127.0.0.1:8443
gateway_dir="${prefix}gateway"

gateway_wanted() {
  [[ "$name" == lightship || "${LIGHTSHIP_CLUSTER_GATEWAY:-}" == true ]]
}

# A self-signed certificate for every host under the local base domain, kept across restarts.
gateway_certificate() {
  [[ -f "$gateway_dir/tls.crt" ]] && return
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=lightship local gateway" \
    -addext "subjectAltName=DNS:*.cs.localhost,DNS:localhost,IP:127.0.0.1" \
    -keyout "$gateway_dir/tls.key" -out "$gateway_dir/tls.crt" 2>/dev/null
}

# Traefik's kubeconfig: a client certificate of the user lightship:gateway (gateway.yaml gives it
# its rights), signed by the cluster's CA (pki.sh) and kept with the cluster's certificates, so
# a new cluster (and so a new CA) gets a new one.
gateway_kubeconfig() {
  local file="$gateway_dir/kubeconfig" server
  if ! openssl verify -CAfile "$cluster_pki/ca.crt" "$cluster_pki/gateway.crt" >/dev/null 2>&1; then
    pki_sign "$cluster_pki" gateway "/CN=lightship:gateway" clientAuth
  fi
  server=$(kc config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  rm -f "$file"
  kubectl --kubeconfig "$file" config set-cluster local --server "$server" \
    --certificate-authority "$cluster_pki/ca.crt" --embed-certs >/dev/null
  kubectl --kubeconfig "$file" config set-credentials gateway --embed-certs \
    --client-certificate "$cluster_pki/gateway.crt" --client-key "$cluster_pki/gateway.key" >/dev/null
  kubectl --kubeconfig "$file" config set-context local --cluster local --user gateway >/dev/null
  kubectl --kubeconfig "$file" config use-context local >/dev/null
}

# Traefik's static configuration. Providers react at once to a change (the tests watch routes
# come and go): no throttling beyond 100 ms. Nothing phones home. HTTPS containers are reached
# without verifying their certificate, as the managed service's load balancer does: they are
# self-signed, and the route has no CA to check them against (README: "HTTPS containers").
gateway_config() {
  cat <<EOF
global:
  checkNewVersion: false
  sendAnonymousUsage: false
serversTransport:
  insecureSkipVerify: true
log:
  level: INFO
  noColor: true
entryPoints:
  websecure:
    address: "$GATEWAY_ADDRESS"
    http:
      tls: {}
providers:
  providersThrottleDuration: 100ms
  kubernetesIngress:
    ingressEndpoint:
      ip: 127.0.0.1
  kubernetesGateway:
    statusAddress:
      ip: 127.0.0.1
  file:
    filename: "$gateway_dir/default-certificate.yaml"
EOF
}

gateway_default_certificate() {
  cat <<EOF
tls:
  stores:
    default:
      defaultCertificate:
        certFile: "$gateway_dir/tls.crt"
        keyFile: "$gateway_dir/tls.key"
EOF
}

gateway_objects() { # the folder of the build
  kc apply --server-side --force-conflicts -f "$1/gateway-api-crds" >/dev/null
  # The folder also holds a ValidatingAdmissionPolicy (refusing older CRD versions), which has
  # no condition to wait for.
  kc wait --for condition=established --timeout=60s crd -o name \
    gatewayclasses.gateway.networking.k8s.io gateways.gateway.networking.k8s.io \
    httproutes.gateway.networking.k8s.io >/dev/null
  kc apply --server-side --force-conflicts -f "$here/gateway.yaml" >/dev/null
  kc create secret tls public-tls -n lightship-gateway --cert "$gateway_dir/tls.crt" \
    --key "$gateway_dir/tls.key" --dry-run=client -o yaml | kc apply --server-side -f - >/dev/null
}

gateway_running() {
  [[ -f "$gateway_dir/traefik.pid" ]] && kill -0 "$(cat "$gateway_dir/traefik.pid")" 2>/dev/null
}

gateway_stop() {
  gateway_running || return 0
  local pid deadline=$((SECONDS + 15))
  pid=$(cat "$gateway_dir/traefik.pid")
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then kill -9 "$pid"; break; fi
    sleep 0.2
  done
  rm -f "$gateway_dir/traefik.pid"
}

# Serving: the port answers (404 for a host no route serves), and Traefik has accepted the
# Gateway (status Programmed, for the generation applied).
gateway_serving() { # seconds
  local deadline=$((SECONDS + $1))
  until curl -sk -o /dev/null "https://$GATEWAY_ADDRESS/" \
    && kc wait --for condition=Programmed --timeout=1s -n lightship-gateway gateway/public >/dev/null 2>&1; do
    gateway_running && ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

gateway_up() {
  gateway_wanted || return 0
  local build started lock
  build=$("$here/build-gateway.sh")
  mkdir -p "$gateway_dir"
  # Test sessions sharing the cluster call this at once: one at a time decides and starts.
  exec {lock}>"$gateway_dir/lock"
  flock "$lock"
  gateway_certificate
  gateway_kubeconfig
  gateway_default_certificate >"$gateway_dir/default-certificate.yaml"
  gateway_config >"$gateway_dir/traefik.yaml.new"
  cat "$gateway_dir/traefik.yaml.new" "$gateway_dir/kubeconfig" "$build/bin/traefik" \
    | sha256sum >"$gateway_dir/started.new"
  gateway_objects "$build"
  # A Traefik already running with this configuration, binary and cluster is kept: test sessions
  # sharing the cluster call this too.
  if gateway_running && cmp -s "$gateway_dir/started" "$gateway_dir/started.new"; then
    rm -f "$gateway_dir/traefik.yaml.new" "$gateway_dir/started.new"
    say "reusing the running gateway (https://$GATEWAY_ADDRESS)"
    return
  fi
  gateway_stop
  mv "$gateway_dir/traefik.yaml.new" "$gateway_dir/traefik.yaml"
  mv "$gateway_dir/started.new" "$gateway_dir/started"
  started=$SECONDS
  # Without the lock's descriptor, which would hold the lock as long as Traefik runs.
  KUBECONFIG="$gateway_dir/kubeconfig" setsid "$build/bin/traefik" \
    --configFile="$gateway_dir/traefik.yaml" </dev/null >>"$gateway_dir/traefik.log" 2>&1 {lock}>&- &
  echo $! >"$gateway_dir/traefik.pid"
  gateway_serving 60 || fail "the gateway is not serving; log: $gateway_dir/traefik.log"
  say "gateway up in $((SECONDS - started)) s on https://$GATEWAY_ADDRESS (log: $gateway_dir/traefik.log)"
}

gateway_down() {
  gateway_stop
  rm -rf "$gateway_dir"
}
