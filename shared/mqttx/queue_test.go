package mqttx

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// A full KeepOldest queue hands every message it gives up to OnFull, in
// order, once each: with the handler stuck, each message is either
// delivered later or given to OnFull, none both, none lost.
func TestSubOnFull(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var delivered, refused []string
	var drops int
	s := newSub("cmd/enrol", 1, func(_ string, p []byte) {
		<-release
		mu.Lock()
		delivered = append(delivered, string(p))
		mu.Unlock()
	}, SubOptions{Queue: 4, OnFull: func(tp string, p []byte) {
		if tp != "cmd/enrol" {
			t.Errorf("OnFull topic %q", tp)
		}
		refused = append(refused, string(p)) // paho's goroutine: this test's
	}}, func(dir, _ string) {
		if dir == DirIn {
			drops++
		}
	})
	go s.run()
	defer s.close()
	s.push(message{topic: "cmd/enrol", payload: []byte("0")})
	// Wait until the handler holds message 0, so the queue is empty again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		n := s.n
		s.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the handler never took the first message")
		}
		time.Sleep(time.Millisecond)
	}
	for i := 1; i < 10; i++ {
		s.push(message{topic: "cmd/enrol", payload: []byte(fmt.Sprint(i))})
	}
	if want := []string{"5", "6", "7", "8", "9"}; fmt.Sprint(refused) != fmt.Sprint(want) {
		t.Fatalf("OnFull got %v, want %v", refused, want)
	}
	if drops != 5 {
		t.Errorf("%d drops counted, want 5", drops)
	}
	close(release)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(delivered)
		mu.Unlock()
		if n == 5 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"0", "1", "2", "3", "4"}; fmt.Sprint(delivered) != fmt.Sprint(want) {
		t.Fatalf("delivered %v, want %v", delivered, want)
	}
}
