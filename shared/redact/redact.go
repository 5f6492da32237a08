// Package redact keeps secrets out of log lines and error text.
//
// Broker, camera, recognizer and webhook URLs may carry a password
// (tcp://user:pass@host, rtsp://admin:pass@cam/stream) or a token in their
// query (https://hook.example/x?token=...). String replaces the password of
// every URL it finds in a text, and the value of query parameters whose name
// looks like a secret, with "xxxxx" (the marker net/url's URL.Redacted uses),
// keeping the user name, host and path so the line stays useful. It works on
// free text, so an error that quotes a URL (a *url.Error: `Post
// "https://u:p@h/x": dial tcp ...`, OpenCV's "Error opening file: rtsp://...")
// is covered too.
//
// Error wraps an error so its text is redacted while errors.Is/As still see
// the original, and Handler wraps a slog.Handler so every message and
// attribute is redacted before it is written: a second line of defence
// behind the explicit calls at the places that log URLs.
//
// Limits: a password is found between "scheme://" and the last '@' of the
// URL, the URL ending at white space, a quote, '<', '>' or the next
// "scheme://". A password containing white space or quotes (invalid in a
// URL) is cut there; a text that merely looks like user:secret@host without a
// scheme is left alone.
package redact

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// Mask replaces every redacted secret.
const Mask = "xxxxx"

// String returns s with the password of every URL in it, and every
// secret-looking query parameter value, replaced by Mask.
func String(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0 // s[:last] is already in b
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			break
		}
		sep := i + j
		start := schemeStart(s, sep)
		if start == sep { // "://" without a scheme before it
			i = sep + 3
			continue
		}
		body := sep + 3
		end := urlEnd(s, body)
		b.WriteString(s[last:body])
		b.WriteString(redactRest(s[body:end]))
		last = end
		i = end
	}
	b.WriteString(s[last:])
	return b.String()
}

// URL redacts one URL (the same rules as String; raw need not parse).
func URL(raw string) string { return String(raw) }

// Origin returns only scheme://host[:port] of raw (no user, path or query),
// for URLs whose path may itself be the secret, such as webhook URLs
// (Home Assistant's /api/webhook/<id>, Slack's /services/...). An
// unparsable URL gives "(invalid URL)".
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}

func isSchemeChar(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return true
	case first:
		return false
	case c >= '0' && c <= '9', c == '+', c == '-', c == '.':
		return true
	}
	return false
}

// schemeStart returns where the scheme ending at sep begins (sep when there
// is none).
func schemeStart(s string, sep int) int {
	k := sep
	for k > 0 && isSchemeChar(s[k-1], false) {
		k--
	}
	// The scheme must start with a letter: skip leading digits etc.
	for k < sep && !isSchemeChar(s[k], true) {
		k++
	}
	return k
}

// urlEnd returns where the URL whose authority starts at body ends.
func urlEnd(s string, body int) int {
	end := len(s)
	if k := strings.IndexAny(s[body:], " \t\n\r\v\f\"'`<>"); k >= 0 {
		end = body + k
	}
	// Another URL in the same run of text ("a://x,b://u:p@y") starts a
	// new one.
	if n := strings.Index(s[body:end], "://"); n >= 0 {
		if next := schemeStart(s, body+n); next > body && next < body+n {
			end = next
		}
	}
	return end
}

// redactRest redacts what follows "scheme://".
func redactRest(r string) string {
	if at := strings.LastIndexByte(r, '@'); at >= 0 {
		user := r[:at]
		if c := strings.IndexByte(user, ':'); c >= 0 && user[c+1:] != Mask {
			r = user[:c+1] + Mask + r[at:]
		}
	}
	q := strings.IndexByte(r, '?')
	if q < 0 {
		return r
	}
	var out strings.Builder
	out.WriteString(r[:q+1])
	rest := r[q+1:]
	for rest != "" {
		n := strings.IndexAny(rest, "&;#")
		if n < 0 {
			n = len(rest)
		}
		p := rest[:n]
		if eq := strings.IndexByte(p, '='); eq > 0 && secretKey(p[:eq]) && p[eq+1:] != "" {
			p = p[:eq+1] + Mask
		}
		out.WriteString(p)
		rest = rest[n:]
		if rest == "" {
			break
		}
		if rest[0] == '#' {
			out.WriteString(rest)
			break
		}
		out.WriteByte(rest[0])
		rest = rest[1:]
	}
	return out.String()
}

// secretKey reports whether a query parameter name looks like it holds a
// secret.
func secretKey(k string) bool {
	if dk, err := url.QueryUnescape(k); err == nil {
		k = dk
	}
	k = strings.ToLower(k)
	for _, w := range []string{"pass", "pwd", "secret", "token", "key", "auth", "sig", "credential", "session"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// Error returns err with its text redacted; errors.Is and errors.As see
// through it to err. It returns err itself when its text holds no secret,
// and nil for nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := String(msg)
	if red == msg {
		return err
	}
	return &redacted{msg: red, err: err}
}

// Errorf is fmt.Errorf with the resulting text redacted.
func Errorf(format string, args ...any) error {
	return Error(fmt.Errorf(format, args...))
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// URLError rewrites a *url.Error inside err so that it names only the
// origin of its URL (see Origin), and redacts the rest of the text: for
// webhook calls, whose path may be the secret.
func URLError(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return Error(err)
	}
	return &redacted{msg: String(fmt.Sprintf("%s %s/…: %v", ue.Op, Origin(ue.URL), ue.Err)), err: err}
}

// Handler wraps h so that every log message, string attribute, error and
// fmt.Stringer value is redacted before h sees it.
func Handler(h slog.Handler) slog.Handler {
	if _, ok := h.(*handler); ok {
		return h
	}
	return &handler{h: h}
}

type handler struct{ h slog.Handler }

func (r *handler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r *handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = attr(a)
	}
	return &handler{h: r.h.WithAttrs(red)}
}

func (r *handler) WithGroup(name string) slog.Handler { return &handler{h: r.h.WithGroup(name)} }

func attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); strings.Contains(s, "://") {
			return slog.String(a.Key, String(s))
		}
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = attr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			if x == nil {
				return a
			}
			if s := x.Error(); strings.Contains(s, "://") {
				return slog.String(a.Key, String(s))
			}
		case fmt.Stringer:
			if s, ok := safeString(x); ok && strings.Contains(s, "://") {
				return slog.String(a.Key, String(s))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// safeString calls x.String, which may panic on a nil pointer; slog
// reports such a value itself.
func safeString(x fmt.Stringer) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return x.String(), true
}
