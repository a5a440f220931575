# shellcheck shell=bash
# The real node's images and registries (sourced by node.sh). The images are built without
# Docker: each is one static Go program of this repository in a single tar layer on an empty
# OCI base, pushed by crane to the node's registry. The registry keeps them in memory: they are
# pushed whenever it starts.
#
#   127.0.0.1:5000/lightship/testapp:1 and :2   hack/testapp, stamped with its tag
#   127.0.0.1:5000/lightship/pause:1            hack/cluster/node/pause, the pods' sandbox
#   127.0.0.1:5000/lightship/prober:<version>   hack/prober, the health-check sidecar
#
# A second, private registry on 127.0.0.1:5001 answers only with credentials (htpasswd, a
# password made at each start): it holds 127.0.0.1:5001/lightship/testapp:2, and
# $NODE_STATE/private-registry/docker/config.json is a Docker config with its credentials, the
# content of a kubernetes.io/dockerconfigjson Secret (.dockerconfigjson) that pulls from it.

NODE_IMAGE_SOURCES=("$root/hack/testapp" "$root/hack/cluster/node/pause" "$root/hack/prober")

# A digest of the images' sources: a change makes the node start again with new images.
node_image_sources() {
  find "${NODE_IMAGE_SOURCES[@]}" -type f ! -name '*_test.go' -print0 | sort -z \
    | xargs -0 sha256sum | sha256sum
}

# node_image SOURCE-DIR NAME:TAG ENTRYPOINT GO-LDFLAGS [CRANE-MUTATE-ARGS...]
node_image() {
  local source=$1 image=$2 entrypoint=$3 ldflags=$4; shift 4
  local work="$NODE_STATE/images/${image//[:\/]/-}" ref="$NODE_REGISTRY/lightship/$image"
  mkdir -p "$work/layer"
  if ! {
    (cd "$source" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
       -ldflags "-s -w $ldflags" -o "$work/layer$entrypoint" .) \
      && tar -C "$work/layer" --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$work/layer.tar" . \
      && "$NODE_BIN/crane" append --oci-empty-base -f "$work/layer.tar" -t "$ref" \
      && "$NODE_BIN/crane" mutate "$ref" --set-platform linux/amd64 --entrypoint="$entrypoint" \
           "$@" -t "$ref"
  } >>"$NODE_STATE/logs/images.log" 2>&1; then
    fail "could not build and push $ref from $source; log: $NODE_STATE/logs/images.log"
  fi
}

node_images_push() {
  local tag version
  for tag in 1 2; do
    node_image "$root/hack/testapp" "testapp:$tag" /testapp "-X main.version=$tag"
  done
  node_image "$root/hack/cluster/node/pause" pause:1 /pause ""
  # The prober's published tag is the project's version; its Dockerfile runs it as 65532.
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/pyproject.toml")
  node_image "$root/hack/prober" "prober:$version" /prober "" --user 65532:65532
}

NODE_PRIVATE_USER=lightship

# The private registry asks for credentials (401) before anything else.
node_private_registry_answers() {
  [[ $(curl -sS -o /dev/null -w '%{http_code}' "http://$NODE_PRIVATE_REGISTRY/v2/") == 401 ]]
}

node_private_registry_up() {
  local dir="$NODE_STATE/private-registry" password
  mkdir -p "$dir/storage" "$dir/docker"
  password=$(openssl rand -hex 16)
  "$REGISTRY_BIN/registry" htpasswd "$NODE_PRIVATE_USER" <<<"$password" >"$dir/htpasswd" \
    || fail "could not hash the private registry's password"
  printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$NODE_PRIVATE_REGISTRY" \
    "$(printf '%s:%s' "$NODE_PRIVATE_USER" "$password" | base64 -w0)" >"$dir/docker/config.json"
  node_spawn private-registry env OTEL_TRACES_EXPORTER=none \
    "$REGISTRY_BIN/registry" serve "$NODE_STATE/config/private-registry.yml"
  node_wait 30 "the private registry on $NODE_PRIVATE_REGISTRY" node_private_registry_answers
  DOCKER_CONFIG="$dir/docker" "$NODE_BIN/crane" copy "$NODE_REGISTRY/lightship/testapp:2" \
    "$NODE_PRIVATE_REGISTRY/lightship/testapp:2" >>"$NODE_STATE/logs/images.log" 2>&1 \
    || fail "could not push to the private registry; log: $NODE_STATE/logs/images.log"
}
