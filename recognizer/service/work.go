package service

import (
	"context"
	"sync"
)

// workers is a bounded pool for command handling: a fixed number of
// goroutines and a queue limit, so a burst of commands (each enrolment holds
// up to 4 MiB and an engine; each person command fsyncs the gallery) cannot
// grow goroutines or memory without bound. A command that does not fit is
// refused at once (the caller answers it), never dropped silently.
type workers struct {
	n    int
	jobs chan func(context.Context)
}

func newWorkers(n, queue int) *workers {
	return &workers{n: max(1, n), jobs: make(chan func(context.Context), max(1, queue))}
}

// submit queues job; it reports false when the queue is full.
func (w *workers) submit(job func(context.Context)) bool {
	select {
	case w.jobs <- job:
		return true
	default:
		return false
	}
}

// run starts the workers; they stop when ctx ends (jobs still queued then
// are dropped with the process).
func (w *workers) run(ctx context.Context, wg *sync.WaitGroup) {
	for i := 0; i < w.n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case job := <-w.jobs:
					job(ctx)
				}
			}
		}()
	}
}
