package service

import (
	"strconv"
	"sync"
	"time"

	"github.com/facemon/facemon/shared/ttl"
)

// Further faces of an unknown track: after its unknown verdict (one face,
// one alert) a stranger who stays in view adds up to ExtraCrops more faces
// to the same group, one every ExtraEvery, so naming a first-time visitor
// has several crops to train on rather than one. They raise no alert.
const (
	ExtraCrops = 3
	ExtraEvery = 2 * time.Second
)

// unknownTracks remembers, per camera and track, how many faces were
// recorded and into which group. Entries of tracks not seen for a minute
// are swept (ttl), so the map stays bounded by the tracks in view.
type unknownTracks struct {
	mu    sync.Mutex
	m     map[string]*unknownTrack
	seen  map[string]time.Time
	sweep int
}

type unknownTrack struct {
	faces int
	last  time.Time
	group int64 // 0 until the verdict face is recorded
}

func newUnknownTracks() *unknownTracks {
	return &unknownTracks{m: map[string]*unknownTrack{}, seen: map[string]time.Time{}}
}

func trackKey(camera string, track int) string { return camera + "\x00" + strconv.Itoa(track) }

// verdict records a track's unknown verdict at now.
func (u *unknownTracks) verdict(camera string, track int, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := trackKey(camera, track)
	u.m[k] = &unknownTrack{faces: 1, last: now}
	u.touch(k, now)
}

// extra reports whether a face of an unknown track at now is recorded as a
// further face, and the group to put it in (0: not known yet).
func (u *unknownTracks) extra(camera string, track int, now time.Time) (ok bool, group int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := trackKey(camera, track)
	t := u.m[k]
	if t == nil || t.faces > ExtraCrops || now.Sub(t.last) < ExtraEvery {
		return false, 0
	}
	t.faces++
	t.last = now
	u.touch(k, now)
	return true, t.group
}

// recorded notes the group a track's face went into.
func (u *unknownTracks) recorded(camera string, track int, group int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if t := u.m[trackKey(camera, track)]; t != nil && t.group == 0 {
		t.group = group
	}
}

func (u *unknownTracks) touch(k string, now time.Time) {
	u.seen[k] = now
	before := len(u.seen)
	ttl.Sweep(u.seen, now, time.Minute, &u.sweep)
	if len(u.seen) < before {
		for k := range u.m {
			if _, ok := u.seen[k]; !ok {
				delete(u.m, k)
			}
		}
	}
}
