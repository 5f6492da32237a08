package mqttx

import "testing"

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
