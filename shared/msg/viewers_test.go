package msg

import "testing"

func TestDecodeViewers(t *testing.T) {
	for in, want := range map[string]int{``: 0, ` `: 0, `{"v":1,"viewers":3}`: 3, `{"viewers":2}`: 2, `{"v":1,"viewers":0}`: 0} {
		m, err := DecodeViewers([]byte(in))
		if err != nil || m.Viewers != want {
			t.Errorf("DecodeViewers(%q) = %+v, %v; want %d", in, m, err, want)
		}
	}
	m, err := DecodeViewers([]byte(`{"v":1,"viewers":0,"remote":["back","garage"]}`))
	if err != nil || len(m.Remote) != 2 || m.Remote[1] != "garage" {
		t.Errorf("remote cameras: %+v, %v", m, err)
	}
	for _, in := range []string{`{"v":1,"viewers":0,"remote":["a/b"]}`, `{"v":1,"viewers":0,"remote":["+"]}`, `{"v":1,"viewers":0,"remote":[""]}`,
		`{"v":2,"viewers":1}`, `{"v":1,"viewers":-1}`, `[1]`, `{"v":1,"viewers":"x"}`, `{"v":1,"viewers":99999999}`} {
		if _, err := DecodeViewers([]byte(in)); err == nil {
			t.Errorf("DecodeViewers(%q): no error", in)
		}
	}
}
