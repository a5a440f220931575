#!/usr/bin/env bash
# Builds the gateway of the local cluster: Traefik Proxy from the pinned wrapper module in
# hack/cluster/traefik, and the Gateway API standard-channel CRDs of the version Traefik pins.
#
#   build-gateway.sh           build once into the cache and print its folder (bin/traefik and
#                              gateway-api-crds/); a later run finds it there and returns at once
#   build-gateway.sh --update  re-resolve hack/cluster/traefik/go.mod and go.sum at
#                              TRAEFIK_VERSION (versions.sh), for a maintainer moving versions
#
# The module proxy does not serve three module paths that Traefik needs, so the module is built
# from a copy with local stand-ins (README: "The gateway"):
# - github.com/traefik/traefik/dynamic/ext and github.com/abbot/go-http-auth: the small
#   hand-written modules in hack/cluster/traefik/standin/;
# - lego's DNS providers whose cloud SDKs the proxy refuses (REFUSED_MODULES below): lego is
#   copied from the module cache with those providers dropped from its registry, here, at build
#   time. ACME DNS-01 challenges with those providers are then unavailable; nothing else changes.
# As build.sh does, the build happens in a temporary folder moved into place only when complete.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/versions.sh"

fail() { echo "hack/cluster/build-gateway.sh: $*" >&2; exit 1; }

# The modules behind lego's DNS-provider registry that the Go module proxy refuses (403): found
# by `go get -tool` of Traefik v3.7.13, whose failures name them.
REFUSED_MODULES=(
  github.com/akamai/AkamaiOPEN-edgegrid-golang/v13
  github.com/aziontech/azionapi-go-sdk
  github.com/dnsimple/dnsimple-go/v9
  github.com/go-acme/alidns-20150109/v5
  github.com/go-acme/esa-20240910/v3
  github.com/go-acme/tencentclouddnspod
  github.com/go-acme/tencentedgdeone
  github.com/huaweicloud/huaweicloud-sdk-go-v3
  github.com/nrdcg/oci-go-sdk/common/v1065
  github.com/nrdcg/oci-go-sdk/dns/v1065
  github.com/regfish/regfish-dnsapi-go
  github.com/sacloud/sacloud-sdk-go
  github.com/ucloud/ucloud-sdk-go
  github.com/yandex-cloud/go-sdk/services/dns
)
TRAEFIK=github.com/traefik/traefik/v3
LEGO=github.com/go-acme/lego/v5
module="$here/traefik"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/lightship"
target=$(dirname "$GATEWAY_BIN")

# A field of `go mod download -json` for a module version: downloaded when missing, and
# checked against the Go checksum database. Run outside any module, so no go.mod is consulted.
download() { # path@version field
  (cd "$work" && go mod download -json "$1") | sed -n "s/^\t\"$2\": \"\(.*\)\",\$/\1/p"
}

# lego at the version Traefik requires, without the DNS providers that import a refused module.
generate_lego() { # destination
  local version source dropped=() provider pattern
  version=$(awk -v lego="$LEGO" '$1 == lego { print $2; exit }' \
    "$(download "$TRAEFIK@v$TRAEFIK_VERSION" GoMod)")
  [[ -n "$version" ]] || fail "could not read the version of $LEGO that Traefik v$TRAEFIK_VERSION requires"
  source=$(download "$LEGO@$version" Dir)
  [[ -d "$source" ]] || fail "could not download $LEGO@$version"
  cp -r "$source" "$1"
  chmod -R u+w "$1"
  pattern=$(printf '%s|' "${REFUSED_MODULES[@]}" | sed 's/|$//; s/\./\\./g')
  for provider in "$1"/providers/dns/*/; do
    if grep -rqE --include='*.go' "\"($pattern)(/[^\"]*)?\"" "$provider"; then
      dropped+=("$(basename "$provider")")
      rm -rf "$provider"
    fi
  done
  # The generated registry: one import line per provider, and a two-line case per provider.
  pattern=$(printf '%s|' "${dropped[@]}" | sed 's/|$//')
  awk -v dropped="^($pattern)$" '
    match($0, /"github.com\/go-acme\/lego\/v5\/providers\/dns\/[a-z0-9]+"/) {
      name = substr($0, RSTART + 1, RLENGTH - 2); sub(/.*\//, "", name)
      if (name ~ dropped) next
    }
    /^\tcase / { held = $0; next }
    held != "" {
      name = $0; sub(/^\t\treturn /, "", name); sub(/\..*/, "", name)
      keep = name !~ dropped
      if (keep) print held
      held = ""
      if (!keep) next
    }
    { print }
  ' "$source/providers/dns/zz_gen_dns_providers.go" >"$1/providers/dns/zz_gen_dns_providers.go"
  (cd "$1" && for m in "${REFUSED_MODULES[@]}"; do go mod edit -droprequire "$m"; done)
  echo "lego $version: dropped the DNS providers ${dropped[*]}" >&2
}

# A copy of the wrapper module with lego generated beside it, ready to build.
prepare_module() { # destination
  mkdir -p "$1"
  cp -r "$module/go.mod" "$module/go.sum" "$module/standin" "$1/"
  generate_lego "$1/lego"
}

check_go() {
  command -v go >/dev/null || fail "go is not installed: install Go >= $GO_MIN (https://go.dev/doc/install)"
  local go_version
  go_version=$(go env GOVERSION | sed 's/^go//')
  [[ "$(printf '%s\n%s\n' "$GO_MIN" "$go_version" | sort -V | head -n1)" == "$GO_MIN" ]] \
    || fail "go $go_version is too old: Traefik v$TRAEFIK_VERSION needs Go >= $GO_MIN"
}

update() {
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  prepare_module "$work/src"
  cd "$work/src"
  go get -tool "$TRAEFIK/cmd/traefik@v$TRAEFIK_VERSION"
  go mod tidy
  cp go.mod go.sum "$module/"
  echo "updated $module/go.mod and go.sum to Traefik v$TRAEFIK_VERSION" >&2
}

complete() {
  [[ -f "$1/.complete" && -x "$1/bin/traefik" && -d "$1/gateway-api-crds" ]]
}

build() {
  if complete "$target"; then
    echo "$target"
    return
  fi
  check_go
  mkdir -p "$cache_root"
  work=$(mktemp -d "$cache_root/.build-gateway.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  local start=$SECONDS crds
  prepare_module "$work/src"
  echo "building Traefik v$TRAEFIK_VERSION (a few minutes on a first run) ..." >&2
  (cd "$work/src" && go mod download) \
    || fail "could not download the Go modules of Traefik: check access to the Go module proxy (GOPROXY=$(go env GOPROXY))"
  (cd "$work/src" && nice go build -trimpath -o "$work/bin/traefik" \
    -ldflags "-s -w -X $TRAEFIK/pkg/version.Version=v$TRAEFIK_VERSION" "$TRAEFIK/cmd/traefik") \
    || fail "building Traefik failed (see the go output above)"
  "$work/bin/traefik" version | grep -q "v$TRAEFIK_VERSION" || fail "traefik is not stamped v$TRAEFIK_VERSION"
  # The CRDs of the Gateway API version Traefik's go.mod pins, which must be ours.
  crds=$(cd "$work/src" && go list -m -f '{{.Version}} {{.Dir}}' sigs.k8s.io/gateway-api)
  [[ "${crds%% *}" == "v$GATEWAY_API_VERSION" ]] \
    || fail "Traefik v$TRAEFIK_VERSION pins Gateway API ${crds%% *}, versions.sh says v$GATEWAY_API_VERSION"
  cp -r "${crds#* }/config/crd/standard" "$work/gateway-api-crds"
  chmod -R u+w "$work/gateway-api-crds"
  rm -rf "$work/src"
  echo "built in $((SECONDS - start)) s" >&2
  touch "$work/.complete"
  rm -rf "$target"
  mv "$work" "$target"
  trap - EXIT
  echo "$target"
}

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
case "${1:-}" in
  --update) check_go && update ;;
  "") build ;;
  *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac
