package netx

import "testing"

func TestIsLoopback(t *testing.T) {
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:1883", true},
		{"127.0.0.1", true},
		{"127.1.2.3:80", true},
		{"[::1]:1883", true},
		{"::1", true},
		{"[::ffff:127.0.0.1]:1883", true},
		{"::ffff:127.0.0.1", true},
		{"[::1%lo]:1883", true},
		{"192.168.1.2:1883", false},
		{"10.0.0.1", false},
		{"[::ffff:192.168.1.2]:1883", false},
		{"[2001:db8::1]:80", false},
		{"0.0.0.0:1883", false},
		{"[::]:1883", false},
		{"localhost:1883", false},
		{"localhost", false},
		{"127.0.0.1.example.com:80", false},
		{"", false},
		{":1883", false},
		{"garbage", false},
		{"@", false}, // a unix socket's peer
	} {
		if got := IsLoopback(c.addr); got != c.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", c.addr, got, c.want)
		}
	}
}
