package face

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Pool runs a fixed set of engines, one per worker: go-face serialises each
// recognizer behind mutexes, so parallelism needs one engine per goroutine.
type Pool struct {
	free    chan Engine
	all     []Engine
	closing chan struct{}
	once    sync.Once
	err     error
	// CloseWait bounds how long Close waits for engines in use (default 30 s).
	CloseWait time.Duration
}

// NewPool opens n engines with open. On error it closes what it opened.
func NewPool(n int, open func() (Engine, error)) (*Pool, error) {
	if n < 1 {
		return nil, fmt.Errorf("face: pool size %d < 1", n)
	}
	p := &Pool{free: make(chan Engine, n), closing: make(chan struct{})}
	for i := 0; i < n; i++ {
		e, err := open()
		if err != nil {
			p.Close()
			return nil, err
		}
		p.all = append(p.all, e)
		p.free <- e
	}
	return p, nil
}

// Size returns the number of engines.
func (p *Pool) Size() int { return len(p.all) }

// Do runs fn with an engine, waiting for one to be free.
func (p *Pool) Do(ctx context.Context, fn func(Engine) error) error {
	var e Engine
	select {
	case <-p.closing:
		return ErrClosed
	case e = <-p.free:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-p.closing: // Close is collecting the engines: give this one back
		p.free <- e
		return ErrClosed
	default:
	}
	defer func() { p.free <- e }()
	return fn(e)
}

// Close stops handing out engines, waits for the ones in use to come back
// (at most CloseWait), and closes them. An engine still in use after that is
// left open rather than freed under its user (a cgo use-after-free); Close
// then reports how many. Calls to Do after Close fail with ErrClosed.
func (p *Pool) Close() error {
	p.once.Do(func() {
		close(p.closing)
		wait := p.CloseWait
		if wait <= 0 {
			wait = 30 * time.Second
		}
		deadline := time.NewTimer(wait)
		defer deadline.Stop()
		var errs []error
		for got := 0; got < len(p.all); got++ {
			select {
			case e := <-p.free:
				errs = append(errs, e.Close())
			case <-deadline.C:
				errs = append(errs, fmt.Errorf("face: %d engines still in use after %v; left open", len(p.all)-got, wait))
				got = len(p.all)
			}
		}
		p.err = errors.Join(errs...)
	})
	return p.err
}
