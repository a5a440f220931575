// Package auth is a stand-in for the HTTP Basic and Digest authentication library that
// Traefik's BasicAuth and DigestAuth middlewares call (pkg/middlewares/auth).
//
// The real library is not available to this build, and the local cluster never configures
// those middlewares. Rather than re-implement password hashing and digest nonces, this stand-in
// refuses every credential: a BasicAuth or DigestAuth middleware built with it answers every
// request 401, so a route behind one is closed, never open. Everything else in Traefik is
// unaffected (README: "The gateway").
package auth

import (
	"fmt"
	"net/http"
)

// SecretProvider returns the stored secret of a user in a realm ("" when unknown).
type SecretProvider func(user, realm string) string

// CheckSecret reports whether password matches the stored secret: never, here.
func CheckSecret(password, secret string) bool { return false }

// BasicAuth holds what Traefik's BasicAuth middleware configures.
type BasicAuth struct {
	Realm   string
	Secrets SecretProvider
}

// RequireAuth answers 401 with a Basic challenge.
func (a *BasicAuth) RequireAuth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", a.Realm))
	http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
}

// DigestAuth holds what Traefik's DigestAuth middleware configures.
type DigestAuth struct {
	Realm   string
	Secrets SecretProvider
}

// NewDigestAuthenticator returns a DigestAuth that refuses every credential.
func NewDigestAuthenticator(realm string, secrets SecretProvider) *DigestAuth {
	return &DigestAuth{Realm: realm, Secrets: secrets}
}

// CheckAuth authenticates nobody: no user name and no "stale" hint.
func (a *DigestAuth) CheckAuth(_ *http.Request) (string, *string) { return "", nil }

// RequireAuth answers 401 with a Digest challenge.
func (a *DigestAuth) RequireAuth(w http.ResponseWriter, r *http.Request) {
	a.RequireAuthStale(w, r)
}

// RequireAuthStale answers 401 with a Digest challenge, as RequireAuth does.
func (a *DigestAuth) RequireAuthStale(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Digest realm=%q", a.Realm))
	http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
}

// DigestAuthParams parses nothing: Traefik reads it only to log the user name it claims.
func DigestAuthParams(_ string) map[string]string { return map[string]string{} }
