package mqttx

import "testing"

func TestFilterMatches(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"homeassistant/#", "homeassistant/image/facemon/x/config", true},
		{"homeassistant/#", "homeassistant", true},
		{"facemon/status/#", "homeassistant/status", false},
		{"cam/+/frames", "cam/door/frames", true},
		{"cam/+/frames", "cam/door/annotated", false},
		{"cam/+/frames", "cam/door/frames/x", false},
		{"$share/g/cam/+/frames", "cam/door/frames", true},
		{"$share/g", "cam/door/frames", false},
		{"#", "$SYS/broker", false},
		{"+/status", "$SYS/status", false},
		{"a/b", "a/b", true},
		{"a/b", "a", false},
	} {
		if got := filterMatches(c.filter, c.topic); got != c.want {
			t.Errorf("filterMatches(%q, %q) = %v", c.filter, c.topic, got)
		}
	}
}
