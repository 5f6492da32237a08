package history

// Recording observations: validation, debouncing of known people, grouping of unknown faces.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/facemon/facemon/shared/ttl"
	"math"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// Seen is one face of an Observation.
type Seen struct {
	Name       string // person, or msg.Unknown
	Distance   float64
	Candidate  string // nearest person (unknown faces)
	Box        [4]int // x0, y0, x1, y1 in frame pixels
	Descriptor face.Descriptor
	// Track is the pipeline's track id (the caller's bookkeeping; kept
	// on the stored Unknown, not in the database).
	Track int
	// Group, for an unknown face, puts it into that open group instead of
	// the nearest one (a further face of a track already recorded there);
	// a group that is no longer open is ignored (clustered as usual).
	Group int64
	// Extra marks a further face of a track already reported: stored in
	// its group, but no new alert (see Unknown.Extra).
	Extra bool
}

// Observation is one processed frame.
type Observation struct {
	Camera string
	Time   time.Time
	Frame  []byte // JPEG
	Faces  []Seen
}

// Validate checks an observation.
func (o *Observation) Validate() error {
	if !topic.ValidID(o.Camera) {
		return fmt.Errorf("%w: camera %q", ErrInvalid, o.Camera)
	}
	if o.Time.IsZero() {
		return fmt.Errorf("%w: zero time", ErrInvalid)
	}
	if len(o.Faces) > msg.MaxFaces {
		return fmt.Errorf("%w: %d faces", ErrInvalid, len(o.Faces))
	}
	if len(o.Faces) > 0 {
		if err := msg.CheckJPEG(o.Frame, 4*msg.MaxFrameBytes); err != nil {
			return fmt.Errorf("%w: frame: %v", ErrInvalid, err)
		}
	}
	for i, f := range o.Faces {
		if f.Name != msg.Unknown && !msg.ValidName(f.Name) {
			return fmt.Errorf("%w: face %d: name %q", ErrInvalid, i, f.Name)
		}
		if f.Candidate != "" && !msg.ValidName(f.Candidate) {
			return fmt.Errorf("%w: face %d: candidate %q", ErrInvalid, i, f.Candidate)
		}
		if math.IsNaN(f.Distance) || math.IsInf(f.Distance, 0) || f.Distance < 0 {
			return fmt.Errorf("%w: face %d: distance %v", ErrInvalid, i, f.Distance)
		}
		if f.Box[2] <= f.Box[0] || f.Box[3] <= f.Box[1] {
			return fmt.Errorf("%w: face %d: box %v", ErrInvalid, i, f.Box)
		}
		if err := checkDescriptor(f.Descriptor, f.Name == msg.Unknown); err != nil {
			return fmt.Errorf("%w: face %d: %v", ErrInvalid, i, err)
		}
	}
	return nil
}

func checkDescriptor(d face.Descriptor, required bool) error {
	zero := true
	for _, v := range d {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return errors.New("descriptor is not finite")
		}
		if v != 0 {
			zero = false
		}
	}
	if zero && required {
		return errors.New("descriptor missing")
	}
	return nil
}

// Event is one recorded recognition. Crop and Frame are only filled where
// documented.
type Event struct {
	ID       int64     `json:"id"`
	Camera   string    `json:"camera"`
	Name     string    `json:"name"`
	Distance float64   `json:"distance"`
	Time     time.Time `json:"time"`
	Box      [4]int    `json:"box"`
	Size     int64     `json:"size"`
	Crop     []byte    `json:"-"`
	Frame    []byte    `json:"-"`
}

// Unknown is one stored unknown face.
type Unknown struct {
	ID        int64     `json:"id"`
	Group     int64     `json:"group"`
	Camera    string    `json:"camera"`
	Time      time.Time `json:"time"`
	Distance  float64   `json:"distance"`
	Candidate string    `json:"candidate,omitempty"`
	Box       [4]int    `json:"box"`
	State     string    `json:"state"`
	Name      string    `json:"name,omitempty"`
	Size      int64     `json:"size"`
	// NewGroup is set by Record when this face started a new group.
	NewGroup bool `json:"-"`
	// Track and Extra are the Seen's (not stored).
	Track      int             `json:"-"`
	Extra      bool            `json:"-"`
	Descriptor face.Descriptor `json:"-"`
	Crop       []byte          `json:"-"`
}

// Group states.
const (
	StateOpen      = "open"
	StateNamed     = "named"
	StateDismissed = "dismissed"
)

// Recorded is what Record stored for one observation (crops included).
type Recorded struct {
	Events   []Event
	Unknowns []Unknown
}

func debounceKey(camera, name string) string { return camera + "\x00" + name }

// Record stores the events and unknown faces of one observation: known
// faces whose person was recorded on this camera less than Debounce ago are
// skipped; every unknown face is stored and clustered. It returns what it
// stored. Malformed observations are rejected with ErrInvalid.
func (s *Store) Record(ctx context.Context, o Observation) (*Recorded, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var known, unknown []int
	seenNow := map[string]bool{}
	for i, f := range o.Faces {
		if f.Name == msg.Unknown {
			unknown = append(unknown, i)
			continue
		}
		k := debounceKey(o.Camera, f.Name)
		if seenNow[k] {
			continue // the same name twice in one frame: keep the first
		}
		if last, ok := s.lastSeen[k]; ok && s.cfg.Debounce > 0 {
			if d := o.Time.Sub(last); d < s.cfg.Debounce && d > -s.cfg.Debounce {
				continue
			}
		}
		seenNow[k] = true
		known = append(known, i)
	}
	out := &Recorded{}
	if len(known) == 0 && len(unknown) == 0 {
		return out, nil
	}
	img, err := DecodeFrame(o.Frame)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if s.db.pg && len(unknown) > 0 {
		// Other recognizers share the database: cluster against the open
		// groups as they are now, not as this process last left them.
		s.groups = map[int64]*cluster{}
		if err := s.loadGroups(); err != nil {
			return nil, err
		}
	}
	crop := func(box [4]int) []byte {
		c, err := CropImage(img, box, s.cfg.CropMargin)
		if err != nil {
			s.log.Debug("no crop", "camera", o.Camera, "box", box, "err", err)
			return nil
		}
		return c
	}
	t := o.Time.UTC()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("history: begin: %w", err)
	}
	defer tx.Rollback()
	for _, i := range known {
		f := o.Faces[i]
		c := crop(f.Box)
		desc := encodeDescriptor(f.Descriptor)
		size := int64(len(c) + len(o.Frame) + len(desc))
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO events (camera, name, distance, t, x0, y0, x1, y1, descriptor, size, crop, frame) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`,
			o.Camera, f.Name, f.Distance, t.UnixNano(), f.Box[0], f.Box[1], f.Box[2], f.Box[3], desc, size, c, o.Frame).Scan(&id)
		if err != nil {
			return nil, fmt.Errorf("history: insert event: %w", err)
		}
		out.Events = append(out.Events, Event{ID: id, Camera: o.Camera, Name: f.Name, Distance: f.Distance, Time: t, Box: f.Box, Size: size, Crop: c, Frame: o.Frame})
	}
	// Cluster against a copy of the open groups; the cache is updated only
	// after commit.
	touched := map[int64]*cluster{}
	get := func(id int64) *cluster {
		if c, ok := touched[id]; ok {
			return c
		}
		c := *s.groups[id]
		touched[id] = &c
		return &c
	}
	for _, i := range unknown {
		f := o.Faces[i]
		gid, ok := s.nearestGroup(f.Descriptor, touched)
		if _, open := s.groups[f.Group]; f.Group > 0 && open {
			gid, ok = f.Group, true
		}
		newGroup := !ok
		if newGroup {
			err := tx.QueryRowContext(ctx, `INSERT INTO ugroups (n, centroid, first, last) VALUES (1, ?, ?, ?) RETURNING id`, encodeDescriptor(f.Descriptor), t.UnixNano(), t.UnixNano()).Scan(&gid)
			if err != nil {
				return nil, fmt.Errorf("history: insert group: %w", err)
			}
			touched[gid] = &cluster{n: 1, centroid: f.Descriptor}
		} else {
			c := get(gid)
			c.n++
			for k := range c.centroid {
				c.centroid[k] += (f.Descriptor[k] - c.centroid[k]) / float32(c.n)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE ugroups SET n = ?, centroid = ?, last = `+tx.greatest()+`(last, CAST(? AS BIGINT)), first = `+tx.least()+`(first, CAST(? AS BIGINT)) WHERE id = ?`,
				c.n, encodeDescriptor(c.centroid), t.UnixNano(), t.UnixNano(), gid); err != nil {
				return nil, fmt.Errorf("history: update group: %w", err)
			}
		}
		c := crop(f.Box)
		desc := encodeDescriptor(f.Descriptor)
		size := int64(len(c) + len(desc))
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO unknowns (group_id, camera, t, distance, candidate, x0, y0, x1, y1, descriptor, size, crop) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`,
			gid, o.Camera, t.UnixNano(), f.Distance, f.Candidate, f.Box[0], f.Box[1], f.Box[2], f.Box[3], desc, size, c).Scan(&id)
		if err != nil {
			return nil, fmt.Errorf("history: insert unknown: %w", err)
		}
		out.Unknowns = append(out.Unknowns, Unknown{ID: id, Group: gid, Camera: o.Camera, Time: t, Distance: f.Distance, Candidate: f.Candidate,
			Box: f.Box, State: StateOpen, Size: size, NewGroup: newGroup, Descriptor: f.Descriptor, Crop: c, Track: f.Track, Extra: f.Extra})
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("history: commit: %w", err)
	}
	for _, e := range out.Events {
		s.lastSeen[debounceKey(e.Camera, e.Name)] = o.Time
	}
	ttl.Sweep(s.lastSeen, o.Time, s.cfg.Debounce, &s.seenNext)
	for id, c := range touched {
		s.groups[id] = c
	}
	return out, nil
}

// nearestGroup returns the open group whose centroid is nearest to d, when
// within ClusterRadius. Groups in pending (this transaction) take
// precedence over the cache.
func (s *Store) nearestGroup(d face.Descriptor, pending map[int64]*cluster) (int64, bool) {
	best, bestD := int64(0), math.Inf(1)
	try := func(id int64, c *cluster) {
		if dist := face.Distance(d, c.centroid); dist < bestD {
			best, bestD = id, dist
		}
	}
	for id, c := range s.groups {
		if p, ok := pending[id]; ok {
			c = p
		}
		try(id, c)
	}
	for id, c := range pending {
		if _, ok := s.groups[id]; !ok {
			try(id, c)
		}
	}
	return best, bestD <= s.cfg.ClusterRadius
}

func encodeDescriptor(d face.Descriptor) []byte {
	b := make([]byte, 4*face.DescriptorLen)
	for i, v := range d {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func decodeDescriptor(b []byte) (face.Descriptor, error) {
	var d face.Descriptor
	if len(b) != 4*face.DescriptorLen {
		return d, fmt.Errorf("descriptor of %d bytes", len(b))
	}
	for i := range d {
		d[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return d, nil
}
