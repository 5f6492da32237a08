// Package rapi reverse-proxies the dashboard's history requests to the
// recognizer's REST API: /rapi/<path> on the edge becomes
// <recognizer-url>/api/<path>.
//
// The proxy only ever talks to the one configured recognizer, forwards only
// GET, POST, PUT and DELETE, bounds request bodies and the time of each
// request, and answers {"error":"..."} JSON itself when the recognizer
// cannot be reached (502) or does not answer in time (504). The edge holds
// no API token of its own: each request carries the bearer token
// Options.Token returns for it (the recognizer session token of the
// browser's dashboard login, see edge/login); a request without one gets a
// 503 JSON error saying why, and a recognizer that refuses the token (401:
// expired, revoked, recognizer restarted) is answered likewise, so the
// dashboard can tell the person to log in again. The browser's own
// Authorization, cookies and CSRF header are never forwarded. Writes (POST, PUT, DELETE) must come
// from the dashboard itself: they need a JSON content type (which a
// cross-site page cannot send without a CORS preflight, never granted here)
// and, when the browser says where they come from (Origin,
// Sec-Fetch-Site), the same origin.
package rapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/facemon/facemon/shared/httpauth"
	"github.com/facemon/facemon/shared/redact"
)

// Prefix is the edge path prefix that is proxied.
const Prefix = "/rapi"

// Defaults.
const (
	DefaultTimeout = 20 * time.Second
	DefaultMaxBody = 64 << 10 // the recognizer itself accepts 16 KiB
)

// Options configure the proxy.
type Options struct {
	// Target is the recognizer's base URL (http or https, no query), e.g.
	// http://127.0.0.1:9101; a path in it is kept (http://host/facemon
	// proxies to http://host/facemon/api/...).
	Target string
	// Token returns the bearer token for a request Authorized accepted (the
	// recognizer session token of its dashboard login), or an error saying
	// why there is none: the request is then answered 503 with that error
	// and never forwarded. Nil forwards without a token (the recognizer
	// will refuse; --no-login). The client's own Authorization header is
	// always dropped.
	Token func(*http.Request) (string, error)
	// Refused, when set, is told that the recognizer answered 401 to a
	// request sent with token (the session should forget it).
	Refused func(r *http.Request, token string)
	// Authorized reports whether a request may use the proxy (a logged-in
	// dashboard session); nil accepts every request (--no-login). Refused
	// requests get 401 and never reach the recognizer.
	Authorized func(*http.Request) bool
	// Timeout bounds each request, response body included (default 20s).
	Timeout time.Duration
	// MaxBody bounds request bodies (default 64 KiB).
	MaxBody int64
	// TLS configures https targets (e.g. the CA from --ca; nil: system
	// roots). Unused with Transport.
	TLS *tls.Config
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// ParseTarget validates a recognizer base URL.
func ParseTarget(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // it quotes the whole URL
			err = ue.Err
		}
		return nil, redact.Errorf("%q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, redact.Errorf("%q: want an http:// or https:// URL", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, redact.Errorf("%q: no host", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, redact.Errorf("%q: want scheme://host[:port][/path] without credentials, query or fragment", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Proxy is the /rapi/ handler.
type Proxy struct {
	target  *url.URL
	o       Options
	log     *slog.Logger
	rp      *httputil.ReverseProxy
	methods map[string]bool
}

// New returns the proxy for o.Target.
func New(o Options) (*Proxy, error) {
	target, err := ParseTarget(o.Target)
	if err != nil {
		return nil, fmt.Errorf("recognizer URL: %w", err)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Transport == nil {
		o.Transport = &http.Transport{
			// Never a proxy from the environment: the recognizer only.
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			TLSClientConfig:       o.TLS,
			ResponseHeaderTimeout: o.Timeout,
			MaxIdleConns:          16,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
		}
	}
	p := &Proxy{target: target, o: o, log: o.Logger,
		methods: map[string]bool{http.MethodGet: true, http.MethodPost: true, http.MethodPut: true, http.MethodDelete: true}}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      o.Transport,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		ErrorLog:       slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	return p, nil
}

// NoSessionHint explains a proxy without person sessions.
const NoSessionHint = "the edge sends none without a dashboard login"

// Target returns the recognizer base URL.
func (p *Proxy) Target() string { return p.target.String() }

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), Prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		httpauth.WriteError(w, http.StatusNotFound, "not found")
		return
	}
	if !cleanRest(rest) {
		httpauth.WriteError(w, http.StatusBadRequest, "bad path")
		return
	}
	if p.o.Authorized != nil && !p.o.Authorized(r) {
		httpauth.WriteError(w, http.StatusUnauthorized, "login required")
		return
	}
	if !p.methods[r.Method] {
		w.Header().Set("Allow", "GET, POST, PUT, DELETE")
		httpauth.WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		return
	}
	if r.Method != http.MethodGet {
		if !httpauth.SameOrigin(r) {
			httpauth.WriteError(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		if !httpauth.IsJSON(r.Header.Get("Content-Type")) {
			httpauth.WriteError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
			return
		}
		if r.ContentLength > p.o.MaxBody {
			httpauth.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", p.o.MaxBody))
			return
		}
	}
	var tok string
	if p.o.Token != nil {
		var err error
		tok, err = p.o.Token(r)
		if err == nil && !validToken(tok) {
			err = errors.New("this login's recognizer session token is malformed: log out and in again")
		}
		if err != nil {
			writeNoSession(w, err.Error())
			return
		}
	}
	if r.Method != http.MethodGet {
		r.Body = http.MaxBytesReader(w, r.Body, p.o.MaxBody)
	} else {
		// A GET carries no body worth forwarding.
		r.Body = http.NoBody
		r.ContentLength = 0
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.o.Timeout)
	defer cancel()
	if tok != "" {
		ctx = context.WithValue(ctx, tokenKey{}, tok)
	}
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

type tokenKey struct{}

// NoSession is the "code" of the 503 answers for a login without a usable
// recognizer session (the dashboard shows their "error").
const NoSession = "no_recognizer_session"

// RefusedMessage is the error shown when the recognizer refused a login's
// session token.
const RefusedMessage = "the recognizer no longer accepts this login's session (expired, revoked, or the recognizer restarted): log out and in again to see history"

func writeNoSession(w http.ResponseWriter, why string) {
	httpauth.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": why, "code": NoSession})
}

// validToken: a bearer token that fits in a header unchanged.
func validToken(tok string) bool {
	if tok == "" || len(tok) > 1024 {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// rewrite maps /rapi/<rest> onto the recognizer's /api/<rest>; scheme and
// host always come from the configured target.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	in := pr.In.URL
	rest := strings.TrimPrefix(in.EscapedPath(), Prefix)
	esc := p.target.EscapedPath() + "/api" + rest
	out := pr.Out.URL
	out.Scheme, out.Host, out.User, out.Opaque, out.Fragment = p.target.Scheme, p.target.Host, nil, "", ""
	if path, err := url.PathUnescape(esc); err == nil {
		out.Path, out.RawPath = path, esc
	} else {
		out.Path, out.RawPath = p.target.Path+"/api"+strings.TrimPrefix(in.Path, Prefix), ""
	}
	out.RawQuery = in.RawQuery
	pr.Out.Host = p.target.Host
	pr.SetXForwarded()
	h := pr.Out.Header
	// The edge's cookies, CSRF token and whatever Authorization the browser
	// sent are not the recognizer's business.
	h.Del("Cookie")
	h.Del("Authorization")
	h.Del("X-Csrf-Token")
	if tok, _ := pr.In.Context().Value(tokenKey{}).(string); tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
}

// modifyResponse keeps the recognizer's answer from setting cookies on the
// edge's origin and maps its redirects back under /rapi.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	resp.Header.Del("Set-Cookie")
	if resp.StatusCode == http.StatusUnauthorized && resp.Request != nil {
		// The recognizer refused the bearer token: say so in the edge's
		// words (a 401 here would read as "log in to the edge").
		tok, _ := resp.Request.Context().Value(tokenKey{}).(string)
		why := RefusedMessage
		if tok == "" {
			why = "the recognizer refused a request without a person's session (" + NoSessionHint + ")"
		} else if p.o.Refused != nil {
			p.o.Refused(resp.Request, tok)
		}
		resp.Body.Close()
		b, _ := json.Marshal(map[string]string{"error": why, "code": NoSession})
		resp.StatusCode, resp.Status = http.StatusServiceUnavailable, "503 Service Unavailable"
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header = http.Header{"Content-Type": {"application/json"}, "Content-Length": {strconv.Itoa(len(b))}}
		return nil
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil {
			base := p.target.Path + "/api"
			if (u.Host == "" || u.Host == p.target.Host) && (u.Path == base || strings.HasPrefix(u.Path, base+"/")) {
				u.Scheme, u.Host = "", ""
				u.Path = Prefix + strings.TrimPrefix(u.Path, base)
				u.RawPath = ""
				resp.Header.Set("Location", u.String())
			} else {
				resp.Header.Del("Location")
			}
		}
	}
	return nil
}

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		httpauth.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit))
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		p.log.Warn("recognizer API timed out", "method", r.Method, "path", r.URL.Path, "err", err)
		httpauth.WriteError(w, http.StatusGatewayTimeout, "the recognizer did not answer within "+p.o.Timeout.String())
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		w.WriteHeader(499)
	default:
		p.log.Warn("recognizer API unreachable", "method", r.Method, "path", r.URL.Path, "err", err)
		httpauth.WriteError(w, http.StatusBadGateway, "recognizer unreachable at "+p.target.Host+": "+errText(err))
	}
}

// cleanRest reports whether the escaped path after /rapi stays under /api
// on the recognizer: no dot segments (also percent-encoded) and no encoded
// slashes or backslashes.
func cleanRest(rest string) bool {
	low := strings.ToLower(rest)
	if strings.Contains(low, "%2f") || strings.Contains(low, "%5c") || strings.Contains(rest, "\\") {
		return false
	}
	dec, err := url.PathUnescape(rest)
	if err != nil {
		return false
	}
	for _, seg := range strings.Split(dec, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// errText shortens a transport error for the page (no URL repeated).
func errText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}
