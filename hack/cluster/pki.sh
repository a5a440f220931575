# shellcheck shell=bash
# The local cluster's certificates, made with openssl (sourced by cluster.sh and node.sh).
#
# kwokctl makes a cluster's CA itself unless the cluster's pki/ folder already exists, and
# then uses that folder as it is. cluster.sh makes it first, so that every certificate the
# cluster needs (the API server's client certificate for kubelets, the real node's components)
# is signed by the one cluster CA and exists before the API server starts. The files and
# names are kwokctl's own: ca.{crt,key}, and admin.{crt,key} (CN kwok-admin in system:masters)
# which kwokctl uses for the admin kubeconfig and as every component's serving certificate.

PKI_DAYS=36500 # kwokctl's own validity: 100 years

# pki_create DIR: the CA, the admin certificate and the API server's kubelet client certificate.
pki_create() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days "$PKI_DAYS" -subj "/CN=kwok-ca" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  # kwokctl's alternative names (pki.DefaultAltNames) and its admin identity.
  local names=(kubernetes kubernetes.default kubernetes.default.svc
               kubernetes.default.svc.cluster.local localhost)
  pki_sign "$dir" admin "/O=system:masters/CN=kwok-admin" serverAuth,clientAuth \
    "$(printf 'DNS:%s,' "${names[@]}")IP:127.0.0.1,IP:::1"
  # The identity kubelets authorize (logs, exec, port-forward) through the API server's RBAC.
  pki_sign "$dir" kubelet-client "/CN=kube-apiserver-kubelet-client" clientAuth
}

# pki_sign DIR NAME SUBJECT USAGES [ALT_NAMES]: NAME.{crt,key} signed by DIR/ca, for the
# extended key USAGES (serverAuth, clientAuth).
pki_sign() {
  local dir=$1 name=$2 subject=$3 usages=$4 alt_names=${5:-}
  local extensions
  extensions="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usages"
  [[ -n "$alt_names" ]] && extensions+=$'\n'"subjectAltName=$alt_names"
  openssl req -newkey rsa:2048 -nodes -subj "$subject" -keyout "$dir/$name.key" 2>/dev/null \
    | openssl x509 -req -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -days "$PKI_DAYS" \
        -set_serial "0x$(openssl rand -hex 16)" -extfile <(echo "$extensions") \
        -out "$dir/$name.crt" 2>/dev/null \
    || { echo "pki.sh: could not sign the certificate $dir/$name.crt" >&2; return 1; }
}
