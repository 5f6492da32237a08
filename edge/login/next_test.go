package login

import "testing"

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/":                      "/",
		"/video_feed_page?cam=x": "/video_feed_page?cam=x",
		"/#people":               "/#people",
		"":                       "/",
		"//evil.example":         "/",
		"/\\evil.example":        "/",
		"\\\\evil.example":       "/",
		"/\t/evil.example":       "/",
		"/\n/evil.example":       "/",
		"/\r/evil.example":       "/",
		"/a\x00b":                "/",
		"/a b":                   "/",
		"/a\\b":                  "/",
		"http://evil.example/":   "/",
		"javascript:alert(1)":    "/",
		"evil.example":           "/",
		"/\u2028/evil":           "/",
		"/\u0085/evil":           "/",
	} {
		if got := SafeNext(in); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
