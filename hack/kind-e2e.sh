#!/usr/bin/env bash
# End to end on a real cluster, for machines with Docker (kind runs its nodes as containers):
# creates a kind cluster (or reuses one of that name), builds the operator image from the
# Dockerfile and loads it into the cluster, deploys manifests/ with that image, applies
# manifests/samples/nginx-public.yaml and waits until the service is Running. The cluster is
# deleted on exit unless KEEP_CLUSTER=1. Needs docker, kind and kubectl >= 1.23.
#
#   CLUSTER_NAME  name of the kind cluster (default: lightship-e2e)
#   KEEP_CLUSTER  1 keeps the cluster for a look around (kubectl context kind-<name>)
#   WAIT_TIMEOUT  how long each wait may take (default: 300s)
set -euo pipefail

fail() { echo "hack/kind-e2e.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || fail "$1 is not installed: see $2"; }

need docker https://docs.docker.com/engine/install/
need kind https://kind.sigs.k8s.io/docs/user/quick-start/#installation
need kubectl https://kubernetes.io/docs/tasks/tools/
docker info >/dev/null 2>&1 \
  || fail "docker does not reach its daemon: start Docker, or check that you may use it"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
cluster=${CLUSTER_NAME:-lightship-e2e}
timeout=${WAIT_TIMEOUT:-300s}
image=lightship:dev
sample=manifests/samples/nginx-public.yaml
[[ -f $sample ]] || fail "$sample is missing"

# Every kubectl call names the cluster's context, whatever the current one is.
k() { kubectl --context "kind-$cluster" "$@"; }

overlay=""
finish() {
  local rc=$?
  if [[ -n $overlay ]]; then rm -rf "$overlay"; fi
  if ((rc != 0)) && kind get clusters 2>/dev/null | grep -qx "$cluster"; then
    echo "--- operator log" >&2
    k -n lightship-system logs deployment/lightship-operator --tail=50 >&2 || true
    echo "--- $sample" >&2
    k get -f "$sample" -o yaml >&2 || true
  fi
  if [[ ${KEEP_CLUSTER:-0} == 1 ]]; then
    echo "hack/kind-e2e.sh: kept cluster $cluster; remove it with: kind delete cluster --name $cluster" >&2
  else
    kind delete cluster --name "$cluster" || true
  fi
}
trap finish EXIT

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  echo "hack/kind-e2e.sh: reusing kind cluster $cluster" >&2
else
  kind create cluster --name "$cluster" --wait 120s
fi

docker build -t "$image" .
kind load docker-image "$image" --name "$cluster"

# A throwaway overlay swaps the published image for the one just loaded. It sits in the checkout
# because kustomize takes a base only by a relative path.
overlay=$(mktemp -d "$PWD/.kind-e2e.XXXXXX")
cat >"$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../manifests
images:
  - name: ghcr.io/lightship-dev/lightship
    newName: ${image%:*}
    newTag: ${image#*:}
YAML
k apply -k "$overlay"
k wait --for=condition=Established crd/containerservicedeployments.lightship.dev --timeout="$timeout"
k -n lightship-system wait --for=condition=Available deployment/lightship-operator \
  --timeout="$timeout"

k apply -f "$sample"
k wait -f "$sample" --for=jsonpath='{.status.state}'=Running --timeout="$timeout"
k get -f "$sample" -o wide
echo "hack/kind-e2e.sh: $sample is Running"
