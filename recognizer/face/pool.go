package face

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Pool runs a fixed set of engines, one per worker: go-face serialises each
// recognizer behind mutexes, so parallelism needs one engine per goroutine.
type Pool struct {
	free chan Engine
	all  []Engine
	once sync.Once
}

// NewPool opens n engines with open. On error it closes what it opened.
func NewPool(n int, open func() (Engine, error)) (*Pool, error) {
	if n < 1 {
		return nil, fmt.Errorf("face: pool size %d < 1", n)
	}
	p := &Pool{free: make(chan Engine, n)}
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
	case e = <-p.free:
	case <-ctx.Done():
		return ctx.Err()
	}
	if e == nil {
		return ErrClosed
	}
	defer func() { p.free <- e }()
	return fn(e)
}

// Close closes every engine. Calls to Do after Close fail with ErrClosed.
func (p *Pool) Close() error {
	var errs []error
	p.once.Do(func() {
		for _, e := range p.all {
			errs = append(errs, e.Close())
		}
		// Unblock waiters: a nil engine means closed.
		for range cap(p.free) {
			select {
			case p.free <- nil:
			default:
			}
		}
	})
	return errors.Join(errs...)
}
