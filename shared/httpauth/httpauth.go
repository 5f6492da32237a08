// Package httpauth holds the small HTTP checks the edge and the recognizer
// share: constant-time bearer tokens, loopback detection, same-origin and
// JSON content-type checks, the /metrics guard and reading secret files. Pure Go, standard library only.
package httpauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/facemon/facemon/shared/netx"
)

// Equal compares two secrets in constant time (also independent of their
// lengths: both sides are hashed first).
func Equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// Bearer returns the token of an "Authorization: Bearer <token>" header.
func Bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// BearerOK reports whether r carries want as its bearer token; an empty want
// never matches.
func BearerOK(r *http.Request, want string) bool {
	got, ok := Bearer(r)
	return ok && want != "" && Equal(got, want)
}

// SameOrigin checks the browser's own statement of where a write comes
// from (Sec-Fetch-Site, then Origin against Host). A request with neither
// header passes: not a browser, or a same-origin GET.
func SameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// IsJSON reports whether a Content-Type header names JSON. A browser
// cannot send that cross-site without a CORS preflight.
func IsJSON(ct string) bool {
	ct = strings.ToLower(strings.TrimSpace(ct))
	return ct == "application/json" || strings.HasPrefix(ct, "application/json;")
}

// WriteJSON writes v as a JSON response that is never cached.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// WriteError writes the documented {"error":"..."} body.
func WriteError(w http.ResponseWriter, code int, text string) {
	WriteJSON(w, code, map[string]string{"error": text})
}

// Unauthorized writes 401 with a Bearer challenge.
func Unauthorized(w http.ResponseWriter, text string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="facemon"`)
	WriteError(w, http.StatusUnauthorized, text)
}

// Metrics guards a /metrics handler: requests from a loopback address are
// served; others need token as a bearer token (401 when a token is
// configured but missing or wrong, 403 when none is configured).
func Metrics(h http.Handler, token string) http.Handler { return LocalOrToken(h, token, "metrics") }

// Health guards a /healthz handler the same way as Metrics (the same token
// opens both): health tells which camera an edge serves, its frame sequence
// and MQTT state, nothing to hand an unauthenticated client on the LAN.
func Health(h http.Handler, token string) http.Handler { return LocalOrToken(h, token, "healthz") }

// LocalOrToken serves h to loopback clients and to clients that send token
// as a bearer token; what names the endpoint in the error bodies.
func LocalOrToken(h http.Handler, token, what string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if BearerOK(r, token) {
			h.ServeHTTP(w, r)
			return
		}
		if _, sent := Bearer(r); sent {
			Unauthorized(w, what+": wrong bearer token")
			return
		}
		if netx.IsLoopback(r.RemoteAddr) {
			h.ServeHTTP(w, r)
			return
		}
		if token != "" {
			Unauthorized(w, what+": bearer token required from a non-loopback address")
			return
		}
		WriteError(w, http.StatusForbidden, what+": served to loopback addresses only (configure --metrics-token-file to read it from elsewhere)")
	})
}

// MaxSecretBytes bounds a secret file.
const MaxSecretBytes = 4096

// ReadSecret reads a token or password file: surrounding whitespace is
// trimmed; an empty file, a line break inside the secret or a file larger
// than MaxSecretBytes is an error. The error never contains the secret.
func ReadSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > MaxSecretBytes {
		return "", fmt.Errorf("%s: larger than %d bytes", path, MaxSecretBytes)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", errors.New(path + ": more than one line")
	}
	return s, nil
}
