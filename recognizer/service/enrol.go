package service

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/quality"
	"github.com/facemon/facemon/recognizer/train"
	"github.com/facemon/facemon/shared/fsx"
	"github.com/facemon/facemon/shared/msg"
)

// Command queue limits (see workers). Enrolments wait for an engine
// shared with recognition; at most EnrolQueue wait (EnrolQueue x 4 MiB of
// payload), the rest are refused with an answer.
const (
	EnrolQueue  = 16
	PersonQueue = 64
	enrolWait   = 30 * time.Second
)

// handleEnrol is the MQTT handler for facemon/cmd/enrol. It never blocks:
// the work is queued for the enrolment workers, or refused when the queue is
// full.
func (s *Service) handleEnrol(_ string, payload []byte) {
	// Malformed commands are answered at once, not queued behind real work.
	cmd, res := s.decodeEnrol(payload)
	if cmd == nil {
		s.answerEnrol(res)
		return
	}
	ok := s.enrolWork.submit(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, enrolWait)
		defer cancel()
		res := s.enrol(ctx, cmd)
		if res.Status == msg.EnrolError {
			s.log.Warn("enrol refused", "id", res.ID, "name", res.Name, "err", res.Error)
		}
		s.answerEnrol(res)
	})
	if !ok {
		id, name := commandHead(payload)
		s.busyEnrol(id, name, enrolQueueFull)
	}
}

func (s *Service) answerEnrol(res msg.EnrolResult) {
	b, _ := json.Marshal(res)
	if err := s.out.Publish(s.space.EnrolResult(), 1, false, b); err != nil {
		s.log.Warn("enrol result not sent", "id", res.ID, "err", err)
	}
}

// commandHead returns the id and name a command payload carries, if any
// (for answers to commands that are not decoded).
func commandHead(payload []byte) (id, name string) {
	var head struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	json.Unmarshal(payload, &head)
	if len(head.ID) > 128 {
		head.ID = head.ID[:128]
	}
	if len(head.Name) > 128 {
		head.Name = head.Name[:128]
	}
	return head.ID, head.Name
}

// Enrol handles one enrolment command payload and returns the result.
func (s *Service) Enrol(ctx context.Context, payload []byte) msg.EnrolResult {
	cmd, res := s.decodeEnrol(payload)
	if cmd == nil {
		return res
	}
	return s.enrol(ctx, cmd)
}

// decodeEnrol decodes an enrolment command; a malformed one gives nil and
// its (error) answer, echoing the request id when the JSON carries one.
func (s *Service) decodeEnrol(payload []byte) (*msg.Enrol, msg.EnrolResult) {
	cmd, err := msg.DecodeEnrol(payload)
	if err != nil {
		id, name := commandHead(payload)
		s.log.Warn("malformed enrol command refused", "id", id, "err", err)
		return nil, msg.EnrolResult{V: msg.Version, ID: id, Name: name, Status: msg.EnrolError, Error: err.Error()}
	}
	return cmd, msg.EnrolResult{}
}

func (s *Service) enrol(ctx context.Context, cmd *msg.Enrol) msg.EnrolResult {
	if len(cmd.Burst) > 0 {
		return s.enrolBurst(ctx, cmd, s.burstRule())
	}
	res := msg.EnrolResult{V: msg.Version, ID: cmd.ID, Name: cmd.Name}
	r, err := s.analyzeEnrol(ctx, cmd.Image)
	if err != nil {
		res.Status, res.Error = msg.EnrolError, err.Error()
		return res
	}
	res.Faces = len(r.Faces)
	switch {
	case len(r.Faces) == 0:
		res.Status = msg.EnrolNoFace
		return res
	case len(r.Faces) > 1:
		res.Status = msg.EnrolSeveralFaces
		return res
	case cmd.CheckOnly:
		res.Status = msg.EnrolChecked
		return res
	}
	f := r.Faces[0]
	var problems []string
	if q, err := quality.Assess(r.PreparedJPG, r.Scale, f, quality.DefaultLimits); err == nil {
		problems = q.Problems
	}
	res.Warnings = problems
	// The image is saved and the sample added under the writer's lock, so a
	// training run either sees both (its scan comes after) or gets the
	// sample replayed (see writer.go).
	s.galMu.Lock()
	rel, err := s.saveImage(cmd.Name, cmd.Image)
	if err != nil {
		s.galMu.Unlock()
		res.Status, res.Error = msg.EnrolError, err.Error()
		return res
	}
	sample := gallery.Sample{Descriptor: f.Descriptor, Source: rel, Hash: train.Hash(cmd.Image),
		Box: [4]int{f.Box.Min.X, f.Box.Min.Y, f.Box.Max.X, f.Box.Max.Y}, Problems: problems}
	err = s.mutateLocked("enrol "+cmd.Name, func(g *gallery.Gallery) error {
		_, err := g.AddUnique(cmd.Name, sample)
		return err
	})
	s.galMu.Unlock()
	if err != nil {
		res.Status, res.Error = msg.EnrolError, err.Error()
		return res
	}
	go s.onGalleryChange()
	res.Status, res.Path = msg.EnrolSaved, rel
	s.log.Info("enrolled", "name", cmd.Name, "image", rel, "camera", cmd.Camera)
	return res
}

// analyzeEnrol finds the faces of an enrolment image (with the CNN
// fallback, as training does).
func (s *Service) analyzeEnrol(ctx context.Context, img []byte) (*face.Result, error) {
	var r *face.Result
	a := s.cfg.Analyzer
	a.CNNFallback = true
	err := s.pool.Do(ctx, func(e face.Engine) error {
		var err error
		r, err = a.Analyze(e, img)
		return err
	})
	return r, err
}

// saveImage writes the image as <dataset>/<name>/<timestamp>-<hash>.jpg
// atomically and returns its dataset-relative path. An image already in the
// person's folder (same content hash: a resent or late-answered enrolment)
// is not written again; its existing path is returned.
func (s *Service) saveImage(name string, img []byte) (string, error) {
	if !msg.ValidName(name) {
		return "", msg.ErrBadName
	}
	h := train.Hash(img)
	if p := s.Pipeline.Gallery().Person(name); p != nil {
		for _, sm := range p.Samples {
			if sm.Hash == h {
				if _, err := os.Stat(filepath.Join(s.cfg.Dataset, filepath.FromSlash(sm.Source))); err == nil {
					return sm.Source, nil
				}
			}
		}
	}
	if m, _ := filepath.Glob(filepath.Join(s.cfg.Dataset, name, "*-"+h[:16]+".jpg")); len(m) > 0 {
		return name + "/" + filepath.Base(m[0]), nil
	}
	rel := name + "/" + time.Now().UTC().Format("20060102T150405.000000000Z") + "-" + h[:16] + ".jpg"
	s.dsMu.Lock()
	defer s.dsMu.Unlock()
	if err := s.shareImage(rel, img); err != nil { // first, so a dataset sync never removes it
		return "", fmt.Errorf("save image: %w", err)
	}
	if err := fsx.WriteFileAtomic(filepath.Join(s.cfg.Dataset, filepath.FromSlash(rel)), img, 0o600); err != nil {
		return "", fmt.Errorf("save image: %w", err)
	}
	return rel, nil
}

// burstChoice is a burst after analysis and selection.
type burstChoice struct {
	imgs    [][]byte // Image, then Burst
	cands   []quality.Candidate
	choices []quality.Choice
	kept    int
}

// selectBurst analyses every frame of a burst (with the CNN fallback),
// assesses it and chooses with rule (quality.SelectBurst). res holds every
// frame's fate; done reports that res is final (no frame kept, a check
// only, or an error).
func (s *Service) selectBurst(ctx context.Context, cmd *msg.Enrol, rule quality.BurstRule) (b burstChoice, res msg.EnrolResult, done bool) {
	res = msg.EnrolResult{V: msg.Version, ID: cmd.ID, Name: cmd.Name}
	b.imgs = append([][]byte{cmd.Image}, cmd.Burst...)
	a := s.cfg.Analyzer
	a.CNNFallback = true
	b.cands = make([]quality.Candidate, len(b.imgs))
	for i, img := range b.imgs {
		var r *face.Result
		err := s.pool.Do(ctx, func(e face.Engine) error {
			var err error
			r, err = a.Analyze(e, img)
			return err
		})
		if ctx.Err() != nil {
			res.Status, res.Error = msg.EnrolError, fmt.Sprintf("burst frame %d: %v", i, ctx.Err())
			return b, res, true
		}
		c := &b.cands[i]
		if err != nil {
			c.Err = err
			continue
		}
		c.Faces = len(r.Faces)
		if c.Faces == 1 {
			c.Face = r.Faces[0]
			if q, err := quality.Assess(r.PreparedJPG, r.Scale, c.Face, quality.DefaultLimits); err == nil {
				c.Report = q
			}
		}
	}
	b.choices = quality.SelectBurst(b.cands, rule)
	res.Frames = make([]msg.EnrolFrame, len(b.imgs))
	several, faces := 0, 0
	for i, ch := range b.choices {
		res.Frames[i] = msg.EnrolFrame{Index: i, Kept: ch.Kept, Reason: ch.Reason, Warnings: b.cands[i].Report.Problems, Sharpness: b.cands[i].Report.Sharpness}
		if ch.Kept {
			b.kept++
		}
		if b.cands[i].Faces > 1 {
			several++
		}
		if b.cands[i].Faces > 0 {
			faces++
		}
	}
	switch {
	case b.kept == 0 && faces == 0:
		res.Status = msg.EnrolNoFace
		return b, res, true
	case b.kept == 0 && several > 0:
		res.Status = msg.EnrolSeveralFaces
		return b, res, true
	case b.kept == 0:
		res.Status, res.Error = msg.EnrolError, "no usable frame in the burst"
		return b, res, true
	case cmd.CheckOnly:
		res.Status, res.Faces = msg.EnrolChecked, b.kept
		return b, res, true
	}
	return b, res, false
}

// keptImages returns the kept frames of b, in burst order.
func (b burstChoice) keptImages() [][]byte {
	var out [][]byte
	for i, ch := range b.choices {
		if ch.Kept {
			out = append(out, b.imgs[i])
		}
	}
	return out
}

// enrolBurst enrols the kept frames of a burst (cmd.Image and cmd.Burst):
// each frame is analysed (with the CNN fallback), assessed and the
// selection (quality.SelectBurst with rule) keeps the sharp, well-lit,
// diverse ones; the answer lists every frame's fate.
func (s *Service) enrolBurst(ctx context.Context, cmd *msg.Enrol, rule quality.BurstRule) msg.EnrolResult {
	b, res, done := s.selectBurst(ctx, cmd, rule)
	if done {
		return res
	}
	imgs, cands, choices, kept := b.imgs, b.cands, b.choices, b.kept
	s.galMu.Lock()
	var samples []gallery.Sample
	for i, ch := range choices {
		if !ch.Kept {
			continue
		}
		rel, err := s.saveImage(cmd.Name, imgs[i])
		if err != nil {
			s.galMu.Unlock()
			res.Status, res.Error = msg.EnrolError, err.Error()
			return res
		}
		f := cands[i].Face
		res.Frames[i].Path = rel
		if res.Path == "" {
			res.Path = rel
		}
		samples = append(samples, gallery.Sample{Descriptor: f.Descriptor, Source: rel, Hash: train.Hash(imgs[i]),
			Box: [4]int{f.Box.Min.X, f.Box.Min.Y, f.Box.Max.X, f.Box.Max.Y}, Problems: cands[i].Report.Problems})
	}
	err := s.mutateLocked("enrol "+cmd.Name, func(g *gallery.Gallery) error {
		for _, sm := range samples {
			if _, err := g.AddUnique(cmd.Name, sm); err != nil {
				return err
			}
		}
		return nil
	})
	s.galMu.Unlock()
	if err != nil {
		res.Status, res.Error = msg.EnrolError, err.Error()
		return res
	}
	go s.onGalleryChange()
	res.Status, res.Faces = msg.EnrolSaved, kept
	s.log.Info("enrolled a burst", "name", cmd.Name, "frames", len(imgs), "kept", kept, "camera", cmd.Camera)
	return res
}

func (s *Service) burstRule() quality.BurstRule {
	return quality.DefaultBurst
}
