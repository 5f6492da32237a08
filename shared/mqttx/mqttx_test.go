package mqttx

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/facemon/facemon/shared/ids"
)

func TestValidateBroker(t *testing.T) {
	for _, good := range []string{"tcp://127.0.0.1:1883", "ssl://h:8883", "ws://h:8080/mqtt"} {
		if err := ValidateBroker(good); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:1883", "http://h", "tcp://", "::"} {
		if err := ValidateBroker(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := New(Options{Broker: "tcp://127.0.0.1:1", ClientID: ""}); err == nil {
		t.Error("empty client id accepted")
	}
}

func TestValidateBrokerHidesPassword(t *testing.T) {
	for _, bad := range []string{"http://u:s3cretpw@h", "tcp://u:s3cretpw@", "tcp://u:s3cretpw@h:bad port", "tcp://u:s3cretpw@[::1"} {
		err := ValidateBroker(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("password in %q", err)
		}
	}
}

func TestDefaultClientID(t *testing.T) {
	host, _ := os.Hostname()
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		id := DefaultClientID("", "recognizer")
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
	re := regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	for user, prefix := range map[string]string{
		"":                      "facemon-recognizer-",
		"recognizer":            "recognizer-",
		"edge-door":             "edge-door-",
		"bad user/name":         "facemon-recognizer-",
		strings.Repeat("u", 70): "facemon-recognizer-",
	} {
		id := DefaultClientID(user, "recognizer")
		if !strings.HasPrefix(id, prefix) || !re.MatchString(id) {
			t.Errorf("user %q: id %q (want prefix %q, <= 64 id characters)", user, id, prefix)
		}
		if h := ids.Part(host, 64); h != "" && len(prefix)+len(h)+8 <= 64 && !strings.Contains(id, "-"+h+"-") {
			t.Errorf("user %q: id %q lacks the host %q", user, id, h)
		}
		if !regexp.MustCompile(`-[0-9a-f]{6}$`).MatchString(id) {
			t.Errorf("id %q: no random suffix", id)
		}
	}
	if id := DefaultClientID(strings.Repeat("a", 60), "x"); len(id) > 64 || !strings.HasPrefix(id, strings.Repeat("a", 57)) {
		t.Errorf("long user: %q", id)
	}
	if id := DefaultClientID("", ""); !strings.HasPrefix(id, "facemon-") {
		t.Errorf("no component: %q", id)
	}
}
