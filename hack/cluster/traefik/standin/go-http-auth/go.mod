// Stand-in for github.com/containous/go-http-auth (Traefik's fork of abbot/go-http-auth),
// which the module proxy here refuses. See auth.go: it refuses every credential.
module github.com/abbot/go-http-auth

go 1.26.0
