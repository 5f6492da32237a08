package mqttx

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/testx"
)

// startMosquitto runs a plain, anonymous mosquitto on 127.0.0.1 with no
// limit on queued messages (so a test that counts drops counts only
// mqttx's) and returns its address and a function that stops it.
func startMosquitto(t *testing.T) (addr string, stop func()) {
	t.Helper()
	bin := ""
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			bin = p
		}
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto not installed")
		}
		t.Skip("mosquitto not installed")
	}
	port := testx.FreePort(t)
	conf := fmt.Sprintf("allow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 0\nlistener %d 127.0.0.1\n", port)
	if os.Getuid() == 0 {
		conf = "user root\n" + conf
	}
	cf := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs testx.Buffer
	cmd := exec.Command(bin, "-c", cf)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cmd.Process.Kill(); cmd.Wait() }) }
	t.Cleanup(stop)
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	testx.WaitFor(t, 10*time.Second, "mosquitto listening: "+logs.String(), func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr, stop
}

func connect(t *testing.T, addr, id string, o Options) *Client {
	t.Helper()
	o.Broker, o.ClientID = "tcp://"+addr, id
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cl, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return cl
}

func seqPayload(i int, size int) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(b, uint64(i))
	return b
}

// waitSubscribed publishes probes on t until h has seen one, so the
// subscription is in place before a test's real messages.
func waitSubscribed(t *testing.T, pub *Client, topic string, seen func() bool) {
	t.Helper()
	testx.WaitFor(t, 10*time.Second, "subscription on "+topic, func() bool {
		pub.PublishWait(topic, 1, false, []byte("probe"), time.Second)
		time.Sleep(20 * time.Millisecond)
		return seen()
	})
}

// TestOrderedDelivery10k: 10,000 messages on one topic reach a slow
// handler in the order they were published, through Publish's queue and a
// subscription's queue, with the handler never running twice at once.
// (With paho's SetOrderMatters(false) — a goroutine per message — this
// test fails on ordering and concurrency.)
func TestOrderedDelivery10k(t *testing.T) {
	addr, _ := startMosquitto(t)
	const n = 10000
	var (
		probed             atomic.Bool
		running, maxRun    atomic.Int32
		mu                 sync.Mutex
		got                []int
		done               = make(chan struct{})
		droppedIn, dropOut atomic.Int64
	)
	onDrop := func(dir, _ string) {
		if dir == DirIn {
			droppedIn.Add(1)
		} else {
			dropOut.Add(1)
		}
	}
	subc := connect(t, addr, "order-sub", Options{OnDrop: onDrop})
	subc.SubscribeOpts("test/order", 1, SubOptions{Queue: n + 10, Policy: KeepOldest}, func(_ string, p []byte) {
		if r := running.Add(1); r > maxRun.Load() {
			maxRun.Store(r)
		}
		defer running.Add(-1)
		if string(p) == "probe" {
			probed.Store(true)
			return
		}
		i := int(binary.BigEndian.Uint64(p))
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // a slow handler: the queue fills behind it
		}
		mu.Lock()
		got = append(got, i)
		full := len(got) == n
		mu.Unlock()
		if full {
			close(done)
		}
	})
	pub := connect(t, addr, "order-pub", Options{PublishQueue: n, OnDrop: onDrop})
	waitSubscribed(t, pub, "test/order", probed.Load)
	for i := 0; i < n; i++ {
		if err := pub.Publish("test/order", 1, false, seqPayload(i, 64)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		mu.Lock()
		t.Fatalf("received %d of %d", len(got), n)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, v := range got {
		if v != i {
			t.Fatalf("message %d is %d: out of order (%v...)", i, v, got[max(0, i-3):min(len(got), i+3)])
		}
	}
	if m := maxRun.Load(); m != 1 {
		t.Errorf("handler ran %d times at once", m)
	}
	if droppedIn.Load() != 0 || dropOut.Load() != 0 {
		t.Errorf("drops in %d out %d, want none", droppedIn.Load(), dropOut.Load())
	}
}

// TestKeepNewestDropsOldest: a QoS 0 subscription (frames) behind a slow
// handler keeps the newest messages: what arrives is in order, ends with
// the last one published, and every message the queue gave up is counted.
func TestKeepNewestDropsOldest(t *testing.T) {
	addr, _ := startMosquitto(t)
	const n = 2000
	var (
		probed  atomic.Bool
		mu      sync.Mutex
		got     []int
		drops   atomic.Int64
		dropTop sync.Map
	)
	subc := connect(t, addr, "newest-sub", Options{OnDrop: func(dir, topic string) {
		if dir == DirIn {
			drops.Add(1)
			dropTop.Store(topic, true)
		}
	}})
	subc.SubscribeOpts("cam/+/frames", 0, SubOptions{Queue: 8}, func(_ string, p []byte) {
		if string(p) == "probe" {
			probed.Store(true)
			return
		}
		time.Sleep(time.Millisecond)
		mu.Lock()
		got = append(got, int(binary.BigEndian.Uint64(p)))
		mu.Unlock()
	})
	pub := connect(t, addr, "newest-pub", Options{})
	waitSubscribed(t, pub, "cam/door/frames", probed.Load)
	for i := 0; i < n; i++ {
		// PublishWait: past Publish's queue, which would keep only the
		// newest frame itself (TestOutQueueStreams).
		if err := pub.PublishWait("cam/door/frames", 0, false, seqPayload(i, 2000), 5*time.Second); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	testx.WaitFor(t, 30*time.Second, "the last frame", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0 && got[len(got)-1] == n-1
	})
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("frame %d after %d: out of order", got[i], got[i-1])
		}
	}
	d := drops.Load()
	if d == 0 {
		t.Fatal("no drops behind a slow handler with an 8-message queue")
	}
	if int(d)+len(got) != n {
		t.Errorf("received %d + dropped %d != published %d", len(got), d, n)
	}
	if _, ok := dropTop.Load("cam/door/frames"); !ok {
		t.Error("OnDrop did not name the topic")
	}
	if in, _ := subc.Dropped(); in != uint64(d) {
		t.Errorf("Dropped() in = %d, OnDrop saw %d", in, d)
	}
	t.Logf("received %d, dropped %d of %d", len(got), d, n)
}

// stallProxy forwards TCP to a broker; stall() stops reading what the
// client sends (a broker that no longer takes messages), so the client's
// socket buffers fill and paho's writes block.
type stallProxy struct {
	ln      net.Listener
	stalled atomic.Bool
}

func newStallProxy(t *testing.T, broker string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", broker)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(c, b); c.Close() }()
			go func() {
				defer b.Close()
				buf := make([]byte, 32<<10)
				for {
					for p.stalled.Load() {
						time.Sleep(10 * time.Millisecond)
					}
					n, err := c.Read(buf)
					if n > 0 {
						if _, err := b.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

// TestPublishNeverBlocks: with the broker stalled (it reads nothing) every
// Publish returns at once; what the queue cannot hold is dropped and
// counted per topic. Then with the broker gone Publish still returns at once.
func TestPublishNeverBlocks(t *testing.T) {
	addr, stop := startMosquitto(t)
	proxy := newStallProxy(t, addr)
	var drops atomic.Int64
	var dropTopic atomic.Value
	pub := connect(t, proxy.ln.Addr().String(), "stall-pub", Options{PublishQueue: 64, OnDrop: func(dir, topic string) {
		if dir == DirOut {
			drops.Add(1)
			dropTopic.Store(topic)
		}
	}})
	proxy.stalled.Store(true)
	payload := make([]byte, 64<<10)
	const n = 3000 // 190 MiB: far beyond the socket buffers and the queue
	var worst time.Duration
	start := time.Now()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		err := pub.Publish(fmt.Sprintf("test/c%d/events", i%100), 1, false, payload)
		if d := time.Since(t0); d > worst {
			worst = d
		}
		if err != nil && !errors.Is(err, ErrQueueFull) && !errors.Is(err, ErrNotConnected) {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	total := time.Since(start)
	t.Logf("stalled broker: %d publishes in %v, slowest %v, %d dropped", n, total, worst, drops.Load())
	if worst > 100*time.Millisecond {
		t.Errorf("a Publish took %v with the broker stalled", worst)
	}
	if drops.Load() == 0 {
		t.Error("nothing dropped with the broker stalled")
	}
	if got, _ := dropTopic.Load().(string); got == "" {
		t.Errorf("OnDrop topic %q", got)
	}
	if _, out := pub.Dropped(); out != uint64(drops.Load()) {
		t.Errorf("Dropped() out = %d, OnDrop saw %d", out, drops.Load())
	}

	stop() // the broker is gone
	worst = 0
	for i := 0; i < 500; i++ {
		t0 := time.Now()
		pub.Publish("cam/door/identities", 1, false, payload[:100])
		if d := time.Since(t0); d > worst {
			worst = d
		}
	}
	if worst > 100*time.Millisecond {
		t.Errorf("a Publish took %v with the broker gone", worst)
	}
}

// TestCloseSendsQueued: what was published just before Close reaches the
// broker (an edge's last "no viewers" before it stops).
func TestCloseSendsQueued(t *testing.T) {
	addr, _ := startMosquitto(t)
	var probed atomic.Bool
	var count atomic.Int64
	subc := connect(t, addr, "close-sub", Options{})
	subc.Subscribe("test/close", 1, func(_ string, p []byte) {
		if string(p) == "probe" {
			probed.Store(true)
			return
		}
		count.Add(1)
	})
	o := Options{Broker: "tcp://" + addr, ClientID: "close-pub", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	pub, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	waitSubscribed(t, pub, "test/close", probed.Load)
	for i := 0; i < 200; i++ {
		if err := pub.Publish("test/close", 1, false, seqPayload(i, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	pub.Close()
	testx.WaitFor(t, 10*time.Second, "200 messages", func() bool { return count.Load() == 200 })
	if err := pub.Publish("test/close", 1, false, []byte("x")); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Publish after Close: %v", err)
	}
}

// TestUnsubscribeStopsHandler: after Unsubscribe a subscription's handler
// gets nothing more, and another subscription keeps receiving.
func TestUnsubscribeStopsHandler(t *testing.T) {
	addr, _ := startMosquitto(t)
	var a, b atomic.Int64
	c := connect(t, addr, "unsub", Options{})
	c.Subscribe("test/a", 1, func(string, []byte) { a.Add(1) })
	c.Subscribe("test/b", 1, func(string, []byte) { b.Add(1) })
	waitSubscribed(t, c, "test/a", func() bool { return a.Load() > 0 })
	waitSubscribed(t, c, "test/b", func() bool { return b.Load() > 0 })
	c.Unsubscribe("test/a")
	time.Sleep(100 * time.Millisecond)
	before := a.Load()
	bBefore := b.Load()
	for i := 0; i < 20; i++ {
		c.PublishWait("test/a", 1, false, []byte("x"), time.Second)
		c.PublishWait("test/b", 1, false, []byte("x"), time.Second)
	}
	testx.WaitFor(t, 5*time.Second, "test/b messages", func() bool { return b.Load() >= bBefore+20 })
	if a.Load() != before {
		t.Errorf("unsubscribed handler got %d more", a.Load()-before)
	}
}

// TestOutQueueStreams: a non-retained QoS 0 message replaces the one still
// queued for its topic (a stream keeps only its newest frame), QoS 1 and
// retained messages queue in order, and the bounds hold.
func TestOutQueueStreams(t *testing.T) {
	q := newOutQueue(4, 100)
	put := func(topic string, qos byte, retained bool, p string) (bool, bool) {
		return q.put(outMsg{topic: topic, qos: qos, retained: retained, payload: []byte(p)})
	}
	for i := 0; i < 10; i++ {
		put("cam/a/frames", 0, false, fmt.Sprint("a", i))
	}
	put("cam/a/identities", 1, false, "id1")
	if ok, replaced := put("cam/a/frames", 0, false, "a10"); !ok || !replaced {
		t.Errorf("a10: queued %v replaced %v", ok, replaced)
	}
	put("cam/a/viewers", 0, true, "v1")
	put("cam/a/viewers", 0, true, "v2") // retained: both kept
	if ok, _ := put("cam/a/identities", 1, false, "id2"); ok {
		t.Error("a fifth message queued in a queue of 4")
	}
	var got []string
	for {
		m, ok := q.pop()
		if !ok {
			break
		}
		got = append(got, m.topic+"="+string(m.payload))
	}
	want := []string{"cam/a/frames=a10", "cam/a/identities=id1", "cam/a/viewers=v1", "cam/a/viewers=v2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// After the frame left the queue a new one queues again behind others.
	put("cam/a/identities", 1, false, "id3")
	put("cam/a/frames", 0, false, "a11")
	if m, _ := q.pop(); string(m.payload) != "id3" {
		t.Errorf("first %q", m.payload)
	}
	if m, _ := q.pop(); string(m.payload) != "a11" {
		t.Errorf("second %q", m.payload)
	}
	if ok, _ := put("big", 1, false, string(make([]byte, 101))); ok {
		t.Error("a payload beyond the byte bound queued")
	}
	if q.bytes != 0 || q.n != 0 {
		t.Errorf("empty queue holds %d bytes, %d messages", q.bytes, q.n)
	}
}

// TestBeforeOnlineFirst: on every connection the BeforeOnline messages
// reach a subscriber before the client's status goes online (an edge's
// retained viewers count before "online"). Published after "online" (as
// an edge's viewers announcer did, up to a poll later) it fails.
func TestBeforeOnlineFirst(t *testing.T) {
	addr, _ := startMosquitto(t)
	var mu sync.Mutex
	var seen []string
	sub := connect(t, addr, "before-sub", Options{})
	sub.Subscribe("test/before/#", 1, func(tp string, p []byte) {
		mu.Lock()
		seen = append(seen, tp+"="+string(p))
		mu.Unlock()
	})
	waitSubscribed(t, sub, "test/before/probe", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) > 0
	})
	mu.Lock()
	seen = nil
	mu.Unlock()
	var n atomic.Int64
	connect(t, addr, "before-pub", Options{StatusTopic: "test/before/status", BeforeOnline: func() []Message {
		return []Message{{Topic: "test/before/viewers", QoS: 1, Retained: true, Payload: []byte(fmt.Sprint(n.Add(1)))}}
	}})
	testx.WaitFor(t, 10*time.Second, "status online", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(seen, "test/before/status=online")
	})
	mu.Lock()
	got := slices.Clone(seen)
	mu.Unlock()
	if want := []string{"test/before/viewers=1", "test/before/status=online"}; !slices.Equal(got, want) {
		t.Errorf("messages heard %q, want %q (BeforeOnline's first)", got, want)
	}
}
