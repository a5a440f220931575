// Package ext is a stand-in for the extension points of Traefik's dynamic configuration.
//
// Traefik's open-source build embeds these two structs, with no fields, in its HTTP
// configuration and its routers (pkg/config/dynamic/http_config.go); other distributions of
// Traefik add fields there. Empty structs are exactly what the open-source build uses, so this
// stand-in changes nothing in the proxy's behaviour.
package ext

// HTTP is embedded in dynamic.HTTPConfiguration.
type HTTP struct{}

// Router is embedded in dynamic.Router.
type Router struct{}
