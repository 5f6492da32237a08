package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gocv.io/x/gocv"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/shared/msg"
)

// PhotoRecall is recall by face width on labelled photos.
type PhotoRecall struct {
	Photos      int // photos read
	NaiveMissed int // photos the naive detector found no face in (not counted)
	Rows        []PhotoRow
	Skipped     []string // unreadable photos, with the reason
}

// PhotoRow is one scaling of the photos: native (Width 0) or each photo
// downscaled so that its face is about Width px wide.
type PhotoRow struct {
	Width      int   `json:"width"`
	Faces      []int `json:"faces"`       // enrolled people's faces per WidthBuckets bucket
	Named      []int `json:"named"`       // of them, found and named correctly by facemon
	Wrong      int   `json:"wrong"`       // named as someone else
	Strangers  int   `json:"strangers"`   // faces of people with no other photo
	StrangerNm int   `json:"stranger_nm"` // of them, named
}

// RunPhotoRecall measures, on photos laid out DIR/<person>/*.jpg (one
// face each, as the shared testdata/faces), how many faces facemon's
// photo analyzer a (the identify/enrol path) finds and names correctly, by
// the width of the face the naive detector (go-face colour HOG on the
// original image) finds. Each photo is judged leave-one-out: against g
// without the samples made from that photo (same content hash), so a
// person whose only photo it is counts as a stranger. widths adds rows with
// every photo downscaled so that its naive face box is that wide (photos
// whose face is narrower already are left out of that row).
func RunPhotoRecall(ctx context.Context, pool *face.Pool, g *gallery.Gallery, rule gallery.Rule, a face.Analyzer, dir string, widths []int) (*PhotoRecall, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.jpg"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("bench: --photos %s: no DIR/<person>/*.jpg", dir)
	}
	sort.Strings(files)
	res := &PhotoRecall{}
	rows := make([]PhotoRow, 1+len(widths))
	for i := range rows {
		rows[i] = PhotoRow{Faces: make([]int, len(WidthBuckets)+1), Named: make([]int, len(WidthBuckets)+1)}
		if i > 0 {
			rows[i].Width = widths[i-1]
		}
	}
	for _, fn := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(fn)
		if err != nil {
			return nil, err
		}
		res.Photos++
		var ref []face.Face
		if err := pool.Do(ctx, func(e face.Engine) error {
			var err error
			ref, err = e.Recognize(data, face.HOG)
			return err
		}); err != nil {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: naive: %v", fn, err))
			continue
		}
		i := face.Largest(ref)
		if i < 0 {
			res.NaiveMissed++
			continue
		}
		rb := [4]int{ref[i].Box.Min.X, ref[i].Box.Min.Y, ref[i].Box.Max.X, ref[i].Box.Max.Y}
		who := filepath.Base(filepath.Dir(fn))
		loo := leaveOut(g, data)
		known := loo.Person(who) != nil
		for ri := range rows {
			row := &rows[ri]
			img, box := data, rb
			if row.Width > 0 {
				s := float64(row.Width) / float64(rb[2]-rb[0])
				if s >= 1 {
					continue
				}
				if img, err = scaleJPEG(data, s); err != nil {
					res.Skipped = append(res.Skipped, fmt.Sprintf("%s: scale %.3f: %v", fn, s, err))
					continue
				}
				for k := range box {
					box[k] = int(float64(box[k]) * s)
				}
			}
			var r *face.Result
			if err := pool.Do(ctx, func(e face.Engine) error {
				var err error
				r, err = a.Analyze(e, img)
				return err
			}); err != nil {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s (row %d px): %v", fn, row.Width, err))
				continue
			}
			boxes := make([][4]int, len(r.Faces))
			for k, f := range r.Faces {
				boxes[k] = [4]int{f.Box.Min.X, f.Box.Min.Y, f.Box.Max.X, f.Box.Max.Y}
			}
			name := msg.Unknown
			if j := pairs([][4]int{box}, boxes, nil)[0]; j >= 0 {
				name = loo.Match(r.Faces[j].Descriptor, rule).Name
			}
			if !known {
				row.Strangers++
				if name != msg.Unknown {
					row.StrangerNm++
				}
				continue
			}
			b := widthBucket(box[2] - box[0])
			row.Faces[b]++
			switch name {
			case who:
				row.Named[b]++
			case msg.Unknown:
			default:
				row.Wrong++
			}
		}
	}
	res.Rows = rows
	return res, nil
}

// leaveOut is g without the samples made from data (by content hash),
// and without the people left with no sample.
func leaveOut(g *gallery.Gallery, data []byte) *gallery.Gallery {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	out := g.Clone()
	people := out.People[:0]
	for _, p := range out.People {
		ss := p.Samples[:0]
		for _, s := range p.Samples {
			if s.Hash != h {
				ss = append(ss, s)
			}
		}
		p.Samples = ss
		if len(ss) > 0 {
			people = append(people, p)
		}
	}
	out.People = people
	return out
}

// scaleJPEG downscales a JPEG by s (area interpolation) and re-encodes it
// at quality 90.
func scaleJPEG(data []byte, s float64) ([]byte, error) {
	m, err := gocv.IMDecode(data, gocv.IMReadColor)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if m.Empty() {
		return nil, fmt.Errorf("cannot decode")
	}
	w, h := max(1, int(float64(m.Cols())*s)), max(1, int(float64(m.Rows())*s))
	d := gocv.NewMat()
	defer d.Close()
	gocv.Resize(m, &d, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, d, []int{gocv.IMWriteJpegQuality, 90})
	if err != nil {
		return nil, err
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}

// Print prints the recall table.
func (p *PhotoRecall) Print(w io.Writer, dir string) {
	fmt.Fprintf(w, "recall by face width on %s: %d photos, %d without a naive (colour HOG, original size) face (left out), %d skipped; each photo leave-one-out (a person whose only photo it is is a stranger).\n", dir, p.Photos, p.NaiveMissed, len(p.Skipped))
	fmt.Fprintf(w, "named = found and named correctly by facemon's photo analyzer / faces in the bucket (bucket = naive box width, scaled)\n%-10s", "photos")
	for _, b := range WidthBucketNames {
		fmt.Fprintf(w, " %16s", b)
	}
	fmt.Fprintf(w, " %6s %12s\n", "wrong", "strangers nm")
	for _, r := range p.Rows {
		label := "native"
		if r.Width > 0 {
			label = fmt.Sprintf("at %d px", r.Width)
		}
		fmt.Fprintf(w, "%-10s", label)
		for i := range r.Faces {
			s := "-"
			if r.Faces[i] > 0 {
				s = fmt.Sprintf("%d/%d %s", r.Named[i], r.Faces[i], pctStr(pct(r.Named[i], r.Faces[i])))
			}
			fmt.Fprintf(w, " %16s", s)
		}
		fmt.Fprintf(w, " %6d %12s\n", r.Wrong, fmt.Sprintf("%d/%d", r.StrangerNm, r.Strangers))
	}
	if len(p.Skipped) > 0 {
		fmt.Fprintf(w, "skipped:\n  %s\n", strings.Join(p.Skipped, "\n  "))
	}
}
