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
	re := regexp.MustCompile(`^[A-Za-z0-9_.-]*@[A-Za-z0-9_.-]+$`)
	for user, prefix := range map[string]string{
		"":                      "@recognizer-",
		"recognizer":            "recognizer@",
		"edge-door":             "edge-door@",
		"edge-door-pi":          "edge-door-pi@",
		"bad user/name":         "@recognizer-",
		"at@sign":               "@recognizer-",
		strings.Repeat("u", 70): "@recognizer-",
	} {
		id := DefaultClientID(user, "recognizer")
		if !strings.HasPrefix(id, prefix) || !re.MatchString(id) || len(id) > 64 {
			t.Errorf("user %q: id %q (want prefix %q, <= 64 id characters, one '@')", user, id, prefix)
		}
		if want := strings.TrimSuffix(prefix, "@"); user != "" && prefix != "@recognizer-" && ids.ClientIDOwner(id) != want {
			t.Errorf("user %q: id %q is owned by %q", user, id, ids.ClientIDOwner(id))
		}
		if strings.HasPrefix(prefix, "@") && ids.ClientIDOwner(id) != "" {
			t.Errorf("anonymous id %q claims owner %q", id, ids.ClientIDOwner(id))
		}
		if h := ids.Part(host, 64); h != "" && len(prefix)+len(h)+8 <= 64 && !strings.Contains(id, h+"-") {
			t.Errorf("user %q: id %q lacks the host %q", user, id, h)
		}
		if !regexp.MustCompile(`-[0-9a-f]{6}$|@[0-9a-f]{6}$`).MatchString(id) {
			t.Errorf("id %q: no random suffix", id)
		}
	}
	// Edge door on host pi is never in user edge-door-pi's id space.
	if o := ids.ClientIDOwner(DefaultClientID("edge-door", "edge-door")); o != "edge-door" {
		t.Errorf("edge-door's id owned by %q", o)
	}
	if id := DefaultClientID(strings.Repeat("a", 57), "x"); len(id) != 64 || ids.ClientIDOwner(id) != strings.Repeat("a", 57) {
		t.Errorf("57-character user: %q", id)
	}
	if id := DefaultClientID(strings.Repeat("a", 60), "x"); id != strings.Repeat("a", 60) {
		t.Errorf("60-character user: %q (want the bare user name)", id)
	}
	if id := DefaultClientID("", ""); !strings.HasPrefix(id, "@") || ids.ClientIDOwner(id) != "" {
		t.Errorf("no component: %q", id)
	}
}
