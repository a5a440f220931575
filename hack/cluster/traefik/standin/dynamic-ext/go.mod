// Stand-in for Traefik's nested module github.com/traefik/traefik/dynamic/ext, which Traefik's
// own go.mod replaces with its folder pkg/config/dynamic/ext: a folder with its own go.mod, so
// the module proxy's zip of Traefik leaves it out. See ext.go.
module github.com/traefik/traefik/dynamic/ext

go 1.26.0
