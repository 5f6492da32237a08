// Package viewers tells the recognizer whether anyone watches this edge's
// camera live (CONTRACTS C2): it publishes, retained, {"v":1,"viewers":N}
// on cam/<id>/viewers when the count of live views (dashboard WebSockets
// and /video_feed MJPEG clients, edge/stream subscribers) changes between
// zero and non-zero, again on every (re)connection, and an empty retained
// message when the edge stops cleanly. An edge with --view-all also lists
// the other cameras it shows live ("remote"). The recognizer draws and publishes
// annotated frames only while the count is above zero and this edge's
// status is online, so a killed edge (its will sets the status offline)
// does not leave it drawing for nobody.
package viewers

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/facemon/facemon/shared/msg"
)

// Client is the MQTT client (mqttx.Client fits).
type Client interface {
	Publish(topic string, qos byte, retained bool, payload []byte) error
	PublishWait(topic string, qos byte, retained bool, payload []byte, timeout time.Duration) error
	Connected() bool
}

// Options configure an Announcer.
type Options struct {
	Client Client
	Topic  string     // cam/<id>/viewers
	Count  func() int // current live views of the camera (stream.Hub.Viewers)
	// Remote, when set (an edge started with --view-all), returns the
	// other cameras this edge shows live now; they are announced in the
	// payload's "remote" list so the recognizer draws for them too.
	Remote func() []string
	// Linger is how long the count must stay at zero before zero is
	// announced (default 2 s), so a page reload (the WebSocket closes and
	// reopens) does not switch the drawing off and on.
	Linger time.Duration
	// Poll is how often the connection is checked (default 250 ms); a
	// change of the count is acted on at once (Changed).
	Poll   time.Duration
	Logger *slog.Logger
}

// Announcer publishes the camera's viewers count.
type Announcer struct {
	o      Options
	notify chan struct{}
	resend atomic.Bool // a reconnection happened: announce the count again
}

// New returns an Announcer; call Run.
func New(o Options) *Announcer {
	if o.Linger <= 0 {
		o.Linger = 2 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Announcer{o: o, notify: make(chan struct{}, 1)}
}

// Changed tells the announcer the count may have changed. It never blocks
// (stream.Options.OnViewers).
func (a *Announcer) Changed() {
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

// Reconnected tells the announcer the client connected again (possibly to
// a restarted broker that lost the retained count), so the count is
// announced again even if the connection came back between two polls.
// It never blocks (mqttx.Client.OnReconnect).
func (a *Announcer) Reconnected() {
	a.resend.Store(true)
	a.Changed()
}

// state is what is announced: whether the camera has viewers, and which
// remote cameras this edge shows.
type state struct {
	n      int
	remote []string
}

// Payload is the announcement of n viewers of the camera (no remote
// cameras): what an edge publishes before its announcer exists.
func Payload(n int) []byte { return state{n: n}.payload() }

// Payload is the announcement of the current count, as Run would publish
// it now. The edge publishes it on every connection before its status
// goes online (mqttx.Options.BeforeOnline), so a recognizer never sees a
// restarted edge online with the count its last run left retained (a
// killed edge leaves its viewers count and its will's "offline"; Run
// alone corrects the count up to a poll after "online").
func (a *Announcer) Payload() []byte { return a.current().payload() }

func (s state) payload() []byte {
	b, _ := json.Marshal(msg.Viewers{V: msg.Version, Viewers: s.n, Remote: s.remote})
	return b
}

// adds reports whether s shows something that old does not (a viewer of
// the camera, or a remote camera): announced at once; only removals wait
// for the linger.
func (s state) adds(old state) bool {
	if s.n > 0 && old.n <= 0 {
		return true
	}
	for _, id := range s.remote {
		if !slices.Contains(old.remote, id) {
			return true
		}
	}
	return false
}

func (s state) same(old state) bool {
	return (s.n > 0) == (old.n > 0) && slices.Equal(s.remote, old.remote)
}

func (a *Announcer) current() state {
	s := state{n: a.o.Count()}
	if a.o.Remote != nil {
		s.remote = a.o.Remote()
		if len(s.remote) > msg.MaxRemoteViewed {
			s.remote = s.remote[:msg.MaxRemoteViewed]
		}
	}
	return s
}

// Run announces until ctx ends, then clears the retained count (empty
// message) if connected.
func (a *Announcer) Run(ctx context.Context) {
	t := time.NewTicker(a.o.Poll)
	defer t.Stop()
	var sent state
	announced := false  // sent holds what this connection was told
	var since time.Time // when the state first differed from sent by removals only
	for {
		select {
		case <-ctx.Done():
			if a.o.Client.Connected() {
				if err := a.o.Client.PublishWait(a.o.Topic, 1, true, nil, 2*time.Second); err != nil {
					a.o.Logger.Warn("clearing the retained viewers count failed", "topic", a.o.Topic, "err", err)
				}
			}
			return
		case <-a.notify:
		case <-t.C:
		}
		if a.resend.Swap(false) {
			announced = false
		}
		if !a.o.Client.Connected() {
			announced = false // announce again on the next connection
			continue
		}
		cur := a.current()
		if announced && cur.same(sent) {
			since = time.Time{}
			continue
		}
		if announced && !cur.adds(sent) {
			// Only removals (the last viewer left, a remote camera is no
			// longer shown): wait for the linger, a reload comes back.
			if since.IsZero() {
				since = time.Now()
			}
			if time.Since(since) < a.o.Linger {
				continue
			}
		}
		if err := a.o.Client.Publish(a.o.Topic, 1, true, cur.payload()); err != nil {
			a.o.Logger.Debug("viewers count not published", "err", err)
			continue
		}
		a.o.Logger.Debug("viewers announced", "topic", a.o.Topic, "viewers", cur.n, "remote", cur.remote)
		sent, announced, since = cur, true, time.Time{}
	}
}
