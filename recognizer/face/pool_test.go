package face

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

type trackedEngine struct {
	inUse  atomic.Int32 // this engine's users
	closed atomic.Bool
	bad    *atomic.Int32 // used after Close, or closed while in use
}

func (e *trackedEngine) Recognize([]byte, Detector) ([]Face, error) { return nil, nil }
func (e *trackedEngine) Close() error {
	if e.inUse.Load() > 0 {
		e.bad.Add(1)
	}
	e.closed.Store(true)
	return nil
}

// Close waits for the engines in use: none is closed under its user, and
// later calls fail with ErrClosed.
func TestPoolCloseWaitsForEnginesInUse(t *testing.T) {
	var bad atomic.Int32
	p, err := NewPool(2, func() (Engine, error) { return &trackedEngine{bad: &bad}, nil })
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 2)
	done := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			done <- p.Do(context.Background(), func(e Engine) error {
				te := e.(*trackedEngine)
				te.inUse.Add(1)
				started <- struct{}{}
				time.Sleep(200 * time.Millisecond)
				if te.closed.Load() {
					bad.Add(1)
				}
				te.inUse.Add(-1)
				return nil
			})
		}()
	}
	<-started
	<-started
	t0 := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if time.Since(t0) < 100*time.Millisecond {
		t.Errorf("Close returned after %v, before the engines in use came back", time.Since(t0))
	}
	for i := 0; i < 2; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if bad.Load() != 0 {
		t.Fatalf("%d engines closed while in use", bad.Load())
	}
	if err := p.Do(context.Background(), func(Engine) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v", err)
	}
}

// An engine that never comes back is left open, and Close says so.
func TestPoolCloseBounded(t *testing.T) {
	var bad atomic.Int32
	te := &trackedEngine{bad: &bad}
	p, _ := NewPool(1, func() (Engine, error) { return te, nil })
	p.CloseWait = 50 * time.Millisecond
	release := make(chan struct{})
	go p.Do(context.Background(), func(Engine) error { te.inUse.Add(1); <-release; te.inUse.Add(-1); return nil })
	for te.inUse.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := p.Close(); err == nil {
		t.Fatal("Close with a stuck engine reported nothing")
	}
	close(release)
	if bad.Load() != 0 {
		t.Fatal("stuck engine closed under its user")
	}
}
