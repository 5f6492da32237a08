package mqttfilter

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateFilter(t *testing.T) {
	valid := []string{"#", "+", "a", "a/b", "a/+", "a/#", "+/+/#", "/", "a//b", "$SYS/#", "cam/+/frames", " "}
	invalid := []string{"", "a#", "a/#/b", "a/b#", "a+/b", "#/a", "a/++", "$share/g/a", "a\x00b"}
	for _, f := range valid {
		if err := ValidateFilter(f); err != nil {
			t.Errorf("ValidateFilter(%q) = %v, want nil", f, err)
		}
	}
	for _, f := range invalid {
		if err := ValidateFilter(f); err == nil {
			t.Errorf("ValidateFilter(%q) = nil, want error", f)
		}
	}
}

func TestStripShare(t *testing.T) {
	tests := []struct {
		in, out string
		ok      bool
	}{
		{"cam/+/frames", "cam/+/frames", true},
		{"$share/g/cam/+/frames", "cam/+/frames", true},
		{"$share/group-1/#", "#", true},
		{"$share/g", "", false},
		{"$share/g/", "", false},
		{"$share//a", "", false},
		{"$share/+/a", "", false},
		{"$share/#/a", "", false},
		{"$shared/g/a", "$shared/g/a", true},
	}
	for _, tt := range tests {
		out, ok := StripShare(tt.in)
		if out != tt.out || ok != tt.ok {
			t.Errorf("StripShare(%q) = %q,%v want %q,%v", tt.in, out, ok, tt.out, tt.ok)
		}
	}
}

var matchTests = []struct {
	filter, topic string
	want          bool
}{
	{"a", "a", true},
	{"a", "b", false},
	{"a", "a/b", false},
	{"a/b", "a", false},
	{"#", "a", true},
	{"#", "a/b/c", true},
	{"#", "/", true},
	{"a/#", "a", true}, // parent level (MQTT-4.7.1-2); mochi's Ledger gets this wrong
	{"a/#", "a/", true},
	{"a/#", "a/b", true},
	{"a/#", "a/b/c", true},
	{"a/#", "ab", false},
	{"a/#", "b/a", false},
	{"a/b/#", "a", false},
	{"+", "a", true},
	{"+", "a/b", false},
	{"+", "", false},
	{"+", "/", false},
	{"+/+", "/", true},
	{"/+", "/a", true},
	{"+/b", "a/b", true},
	{"+/b", "a/c", false},
	{"a/+", "a/", true}, // empty level
	{"a/+", "a", false},
	{"a/+/c", "a/b/c", true},
	{"a/+/c", "a/b/d", false},
	{"a/+/#", "a/b", true},
	{"a/+/#", "a", false},
	{"cam/+/frames", "cam/pi1/frames", true},
	{"cam/+/frames", "cam/pi1/annotated", false},
	{"cam/+/frames", "cam/pi1/frames/x", false},
	{"facemon/status/#", "facemon/status", true},
	{"facemon/status/#", "facemon/status/edge/pi1", true},
	{"a//b", "a//b", true},
	{"a/+/b", "a//b", true},
	// $-topics are not matched by leading wildcards (MQTT-4.7.2-1).
	{"#", "$SYS/broker/uptime", false},
	{"+/broker/uptime", "$SYS/broker/uptime", false},
	{"+", "$SYS", false},
	{"$SYS/#", "$SYS/broker/uptime", true},
	{"$SYS/#", "$SYS", true},
	{"$SYS/+/uptime", "$SYS/broker/uptime", true},
	{"a/#", "a/$b", true},
	{"a/+", "a/$b", true},
	// Case sensitive.
	{"A", "a", false},
	// Invalid filters / topics match nothing.
	{"a/#/b", "a/x/b", false},
	{"a+", "a+", false},
	{"", "", false},
	{"a", "", false},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchTests {
		if got := Match(tt.filter, tt.topic); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
		if got := refMatch(tt.filter, tt.topic); got != tt.want {
			t.Errorf("refMatch(%q, %q) = %v, want %v (reference broken)", tt.filter, tt.topic, got, tt.want)
		}
	}
}

func TestMatchSubscription(t *testing.T) {
	for _, tt := range []struct {
		filter, topic string
		want          bool
	}{
		{"$share/g/cam/+/frames", "cam/door/frames", true},
		{"$share/facemon-commands/facemon/cmd/#", "facemon/cmd/enrol", true},
		{"$share/g/cam/+/frames", "cam/door/annotated", false},
		{"$share/g/#", "a/b", true},
		{"$share/g/#", "$SYS/broker", false},
		{"$share/g/$SYS/#", "$SYS/broker", true},
		{"$share/g/+/status", "$SYS/status", false},
		// Malformed shared filters match nothing.
		{"$share/g", "g", false},
		{"$share/g/", "g", false},
		{"$share//cam/+/frames", "cam/door/frames", false},
		{"$share/+/cam/door/frames", "cam/door/frames", false},
		{"$share/#/cam/door/frames", "cam/door/frames", false},
		{"$share/g/a/#/b", "a/x/b", false},
		// Not a shared subscription: an ordinary $-prefixed filter.
		{"$shared/g/a", "$shared/g/a", true},
		// Ordinary filters behave as Match.
		{"homeassistant/#", "homeassistant/image/facemon/x/config", true},
		{"homeassistant/#", "homeassistant", true},
		{"facemon/status/#", "homeassistant/status", false},
		{"#", "$SYS/broker", false},
	} {
		if got := MatchSubscription(tt.filter, tt.topic); got != tt.want {
			t.Errorf("MatchSubscription(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
	for _, tt := range matchTests {
		if got := MatchSubscription(tt.filter, tt.topic); got != tt.want && !strings.HasPrefix(tt.filter, sharePrefix) {
			t.Errorf("MatchSubscription(%q, %q) = %v, Match = %v", tt.filter, tt.topic, got, tt.want)
		}
		if got := MatchSubscription("$share/g/"+tt.filter, tt.topic); got != tt.want {
			t.Errorf("MatchSubscription($share/g/%q, %q) = %v, want Match = %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		rule, sub string
		want      bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"#", "a/#", true},
		{"#", "#", true},
		{"#", "+/+", true},
		{"#", "$SYS/#", false},
		{"$SYS/#", "#", false},
		{"$SYS/#", "$SYS/+", true},
		{"+/x", "$SYS/x", false},
		{"+", "+", true},
		{"+", "#", false},
		{"+", "a", true},
		{"a/+", "a/#", false},
		{"a/+", "a/+", true},
		{"a/+", "a/b", true},
		{"a/b", "a/+", false},
		{"a/#", "a", true},
		{"a/#", "a/#", true},
		{"a/#", "a/+/#", true},
		{"a/+/#", "a/#", false}, // a/# matches "a", a/+/# does not
		{"a/+/#", "a/+", true},
		{"a/+/#", "a/b/c/#", true},
		{"a/#", "b/#", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"cam/+/frames", "cam/pi1/frames", true},
		{"cam/+/frames", "cam/+/frames", true},
		{"cam/+/frames", "cam/#", false},
		{"cam/+/frames", "+/+/frames", false},
		{"cam/#", "cam/+/frames", true},
		{"facemon/status/#", "facemon/status/edge/+", true},
		{"facemon/status/#", "facemon/#", false},
		// invalid
		{"a/#/b", "a/x/b", false},
		{"a", "a/#/b", false},
	}
	for _, tt := range tests {
		if got := Covers(tt.rule, tt.sub); got != tt.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tt.rule, tt.sub, got, tt.want)
		}
	}
	for _, tt := range matchTests {
		if ValidateTopic(tt.topic) != nil {
			continue
		}
		if got := Covers(tt.filter, tt.topic); got != tt.want {
			t.Errorf("Covers(%q, topic %q) = %v, want Match = %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

// refMatch is an independent regexp-based reference implementation of MQTT
// topic matching used to cross-check Match.
func refMatch(filter, topic string) bool {
	if ValidateFilter(filter) != nil || ValidateTopic(topic) != nil {
		return false
	}
	var b strings.Builder
	b.WriteString(`(?s)^`)
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i == 0:
			b.WriteString(`.*`)
		case l == "#":
			// The preceding "/" is optional: "a/#" matches "a".
			s := b.String()
			b.Reset()
			b.WriteString(strings.TrimSuffix(s, `/`))
			b.WriteString(`(/.*)?`)
		case l == "+":
			b.WriteString(`[^/]*`)
		default:
			b.WriteString(regexp.QuoteMeta(l))
		}
		if i < len(levels)-1 {
			b.WriteString(`/`)
		}
	}
	b.WriteString(`$`)
	if strings.HasPrefix(topic, "$") && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	return regexp.MustCompile(b.String()).MatchString(topic)
}

// FuzzMatch cross-checks Match against the regexp reference, checks that
// Covers agrees with Match on topic names, and that Covers is sound:
// Covers(rule, sub) && Match(sub, topic) implies Match(rule, topic).
func FuzzMatch(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.filter, tt.topic, "a/#")
	}
	f.Add("cam/+/frames", "cam/pi/frames", "cam/#")
	f.Add("$SYS/#", "$SYS/x", "#")
	f.Add("a/+/#", "a/b", "a/#")
	f.Fuzz(func(t *testing.T, filter, topic, rule string) {
		// MQTT strings are UTF-8; the protocol layer rejects anything else.
		if !utf8.ValidString(filter) || !utf8.ValidString(topic) || !utf8.ValidString(rule) {
			t.Skip()
		}
		got := Match(filter, topic)
		if want := refMatch(filter, topic); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference = %v", filter, topic, got, want)
		}
		if ValidateTopic(topic) == nil {
			if c := Covers(filter, topic); c != got {
				t.Fatalf("Covers(%q, topic %q) = %v, Match = %v", filter, topic, c, got)
			}
		}
		if s := MatchSubscription("$share/g/"+filter, topic); s != got {
			t.Fatalf("MatchSubscription($share/g/%q, %q) = %v, Match = %v", filter, topic, s, got)
		}
		if got && Covers(rule, filter) && !Match(rule, topic) {
			t.Fatalf("Covers(%q, %q) but Match(%q, %q) is false", rule, filter, rule, topic)
		}
	})
}
