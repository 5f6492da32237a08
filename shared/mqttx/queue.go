package mqttx

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Policy says which message a full subscription queue gives up.
type Policy int

const (
	// PolicyDefault is KeepNewest for QoS 0 subscriptions and KeepOldest
	// for QoS 1 and 2.
	PolicyDefault Policy = iota
	// KeepNewest drops the oldest queued message to make room for the new
	// one: for streams where only the latest matters (frames, annotated
	// frames).
	KeepNewest
	// KeepOldest drops the new message: for commands and state changes,
	// whose order matters and whose handler should catch up.
	KeepOldest
)

// SubOptions tune one subscription's delivery queue.
type SubOptions struct {
	// Queue bounds the messages waiting for the handler (default 256).
	Queue int
	// Policy chooses what a full queue drops (default: see PolicyDefault).
	Policy Policy
	// OnFull, when set, is called with each message a full queue gives up
	// (after it is counted as dropped), so a command can be refused with
	// an answer instead of vanishing. It runs on paho's goroutine, before
	// any later message is queued: it must not block (answer through
	// Client.Publish, which only queues).
	OnFull Handler
}

// DefaultSubQueue is the default length of a subscription's queue.
const DefaultSubQueue = 256

// Default bounds of the publish queue.
const (
	DefaultPublishQueue      = 4096
	DefaultPublishQueueBytes = 32 << 20
)

// Drop directions, as passed to Options.OnDrop.
const (
	DirIn  = "in"  // a subscription's queue was full
	DirOut = "out" // the publish queue was full
)

// ErrQueueFull is returned by Publish when the publish queue is full (the
// broker does not take messages as fast as they are published); the
// message is dropped and counted.
var ErrQueueFull = errors.New("mqtt: publish queue full, message dropped")

type message struct {
	topic   string
	payload []byte
}

// sub is one subscription: its filter, its handler and the queue its one
// delivery goroutine drains, so the handler sees the filter's messages in
// the order paho received them and never runs twice at once.
type sub struct {
	filter string
	qos    byte
	h      Handler
	cap    int
	newest bool // a full queue drops its oldest message (else the new one)
	onDrop func(direction, topic string)
	onFull Handler

	mu   sync.Mutex
	q    []message // ring buffer of cap entries
	head int
	n    int
	wake chan struct{} // capacity 1: something was queued
	stop chan struct{} // closed by Unsubscribe / Close
	once sync.Once
}

func newSub(filter string, qos byte, h Handler, o SubOptions, onDrop func(string, string)) *sub {
	if o.Queue <= 0 {
		o.Queue = DefaultSubQueue
	}
	newest := o.Policy == KeepNewest || (o.Policy == PolicyDefault && qos == 0)
	return &sub{filter: filter, qos: qos, h: h, cap: o.Queue, newest: newest, onDrop: onDrop, onFull: o.OnFull,
		q: make([]message, o.Queue), wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// push queues m without blocking (it runs on paho's goroutine).
func (s *sub) push(m message) {
	s.mu.Lock()
	var dropped message
	full := false
	switch {
	case s.n < s.cap:
		s.q[(s.head+s.n)%s.cap] = m
		s.n++
	case s.newest:
		dropped, full = s.q[s.head], true
		s.q[s.head] = m
		s.head = (s.head + 1) % s.cap
	default:
		dropped, full = m, true
	}
	s.mu.Unlock()
	if full {
		if s.onDrop != nil {
			s.onDrop(DirIn, dropped.topic)
		}
		if s.onFull != nil {
			s.onFull(dropped.topic, dropped.payload)
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sub) pop() (message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return message{}, false
	}
	m := s.q[s.head]
	s.q[s.head] = message{}
	s.head = (s.head + 1) % s.cap
	s.n--
	return m, true
}

// run delivers queued messages one at a time until close.
func (s *sub) run() {
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			m, ok := s.pop()
			if !ok {
				break
			}
			s.h(m.topic, m.payload)
		}
	}
}

func (s *sub) close() { s.once.Do(func() { close(s.stop) }) }

// outMsg is one queued publish.
type outMsg struct {
	topic    string
	qos      byte
	retained bool
	payload  []byte
}

// outQueue is the bounded publish queue (by messages and by payload
// bytes) with its one sender goroutine, which hands messages to paho in
// the order they were published; paho may block it (a full outbound
// channel waits up to the write timeout), never the caller.
//
// A QoS 0 message is a stream's latest value (frames, annotated frames):
// while one is queued for a topic, a newer QoS 0 message for that topic
// takes its place (the older one counts as dropped), so a slow broker
// never makes a stream's frames queue up and go stale.
type outQueue struct {
	mu       sync.Mutex
	q        []outMsg
	head, n  int
	latest   map[string]int // topic -> absolute index of its queued QoS 0 message
	popped   int            // absolute index of q[head]
	bytes    int
	maxBytes int
	closed   atomic.Bool
	wake     chan struct{} // capacity 1: something was queued
	done     chan struct{} // sender exited
	drain    chan struct{} // closed by Close: send what is queued, then exit
	last     mqtt.Token    // the last message's token (the sender's; read after done)
}

func newOutQueue(n, maxBytes int) *outQueue {
	if n <= 0 {
		n = DefaultPublishQueue
	}
	if maxBytes <= 0 {
		maxBytes = DefaultPublishQueueBytes
	}
	return &outQueue{q: make([]outMsg, n), latest: map[string]int{}, maxBytes: maxBytes,
		wake: make(chan struct{}, 1), done: make(chan struct{}), drain: make(chan struct{})}
}

// put queues m. It reports whether m was queued and whether an older
// queued message (replaced) or m itself (full queue) was dropped.
func (q *outQueue) put(m outMsg) (queued, replaced bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if m.qos == 0 && !m.retained {
		if abs, ok := q.latest[m.topic]; ok {
			i := abs % len(q.q)
			q.bytes += len(m.payload) - len(q.q[i].payload)
			q.q[i] = m
			return true, true
		}
	}
	if q.n == len(q.q) || (q.bytes+len(m.payload) > q.maxBytes && len(m.payload) > 0) {
		return false, false
	}
	abs := q.popped + q.n
	q.q[abs%len(q.q)] = m
	q.n++
	q.bytes += len(m.payload)
	if m.qos == 0 && !m.retained {
		q.latest[m.topic] = abs
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true, false
}

func (q *outQueue) pop() (outMsg, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return outMsg{}, false
	}
	i := q.popped % len(q.q)
	m := q.q[i]
	q.q[i] = outMsg{}
	if abs, ok := q.latest[m.topic]; ok && abs == q.popped {
		delete(q.latest, m.topic)
	}
	q.popped++
	q.n--
	q.bytes -= len(m.payload)
	return m, true
}

// run sends queued messages with send until the queue is closed and empty.
func (q *outQueue) run(send func(outMsg) mqtt.Token) {
	defer close(q.done)
	for {
		for {
			m, ok := q.pop()
			if !ok {
				break
			}
			q.last = send(m)
		}
		select {
		case <-q.wake:
		case <-q.drain:
			for {
				m, ok := q.pop()
				if !ok {
					return
				}
				q.last = send(m)
			}
		}
	}
}

// close stops the sender after it handed paho what is queued and paho
// wrote (QoS 0) or the broker acknowledged (QoS 1, 2) the last of it,
// waiting up to wait in all.
func (q *outQueue) close(wait time.Duration) {
	if q.closed.Swap(true) {
		return
	}
	close(q.drain)
	deadline := time.Now().Add(wait)
	select {
	case <-q.done:
	case <-time.After(wait):
		return
	}
	if q.last != nil {
		q.last.WaitTimeout(time.Until(deadline))
	}
}
