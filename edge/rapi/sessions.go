package rapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Sessions gets and revokes a person's session tokens at the recognizer
// (POST /api/sessions, DELETE /api/sessions/current) for edge/login: the
// dashboard password is handed over once per login and never kept. It uses
// the proxy's transport (same target, CA and timeouts).
type Sessions struct {
	p  *Proxy
	hc *http.Client
}

// Sessions returns the session client for p's recognizer.
func (p *Proxy) Sessions() *Sessions {
	return &Sessions{p: p, hc: &http.Client{Transport: p.o.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Unreachable is the reason shown when the recognizer could not be asked.
const Unreachable = "the recognizer was unreachable when you logged in: log out and in again to see history (the live view works without it)"

func (s *Sessions) url() string { return s.p.target.String() + "/api/sessions" }

// Issue asks the recognizer for a session token for password. Its errors
// are sentences for the person (why the history views are unavailable);
// they never contain the password.
func (s *Sessions) Issue(ctx context.Context, password string) (string, time.Time, error) {
	body, err := json.Marshal(map[string]string{"password": password})
	if err != nil {
		return "", time.Time{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url(), bytes.NewReader(body))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		s.p.log.Warn("recognizer session request failed", "err", errText(err))
		return "", time.Time{}, errors.New(Unreachable)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	var out struct {
		Token   string    `json:"token"`
		Expires time.Time `json:"expires"`
		Error   string    `json:"error"`
	}
	jerr := json.Unmarshal(b, &out)
	switch {
	case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
		if jerr != nil || !validToken(out.Token) {
			return "", time.Time{}, errors.New("the recognizer answered the login with no usable session token: log out and in again to see history")
		}
		return out.Token, out.Expires, nil
	case resp.StatusCode == http.StatusUnauthorized:
		return "", time.Time{}, errors.New("the recognizer did not accept this password (its copy of the dashboard password hash differs from this edge's): history, Capture and Train need the same password on both")
	case resp.StatusCode == http.StatusTooManyRequests:
		return "", time.Time{}, fmt.Errorf("the recognizer refused the login for now (too many attempts, retry after %s s): log out and in again later to see history", resp.Header.Get("Retry-After"))
	case resp.StatusCode == http.StatusServiceUnavailable:
		return "", time.Time{}, fmt.Errorf("the recognizer cannot issue sessions (%s): log out and in again once it can", shortError(out.Error, resp.Status))
	default:
		return "", time.Time{}, fmt.Errorf("the recognizer refused a session (%s): log out and in again to see history", shortError(out.Error, resp.Status))
	}
}

// Revoke ends token at the recognizer (DELETE /api/sessions/current). A
// token the recognizer no longer knows (401) counts as revoked.
func (s *Sessions) Revoke(ctx context.Context, token string) error {
	if !validToken(token) {
		return errors.New("malformed session token")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.url()+"/current", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("recognizer unreachable: %s", errText(err))
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK, http.StatusUnauthorized:
		return nil
	}
	return fmt.Errorf("recognizer answered %s", resp.Status)
}

func shortError(msg, status string) string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return status
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}
