package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// GroundTruth limits.
const (
	maxTruthLine  = 1 << 20 // bytes per line
	maxTruthBoxes = 256     // boxes per frame
	maxTruthCoord = 1 << 16 // |x|, |y|, w, h
	maxTruthName  = 128     // bytes
	maxTruthFrame = 1 << 30
)

// truthLine is one line of a ground-truth file.
type truthLine struct {
	Frame *int       `json:"frame"`
	Boxes []truthBox `json:"boxes"`
}

type truthBox struct {
	X    *int   `json:"x"`
	Y    *int   `json:"y"`
	W    *int   `json:"w"`
	H    *int   `json:"h"`
	Name string `json:"name"`
}

// ParseGroundTruth reads a ground-truth file: JSON lines, one per
// annotated video frame,
//
//	{"frame":12,"boxes":[{"x":100,"y":80,"w":64,"h":64,"name":"alice"},{"x":300,"y":90,"w":50,"h":50}]}
//
// frame is the 0-based frame number in the video (not the sampled one);
// x, y, w, h a face's box in frame pixels (x, y its top-left corner); name
// who it is, empty for a stranger. A frame with "boxes":[] shows nobody;
// frames not listed are not judged. Empty lines and lines starting with #
// are skipped. It returns frame number -> faces.
func ParseGroundTruth(r io.Reader) (map[int][]TruthFace, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxTruthLine)
	out := map[int][]TruthFace{}
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		fs, frame, err := parseTruthLine(line)
		if err != nil {
			return nil, fmt.Errorf("ground truth line %d: %w", n, err)
		}
		if _, dup := out[frame]; dup {
			return nil, fmt.Errorf("ground truth line %d: frame %d listed twice", n, frame)
		}
		out[frame] = fs
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("ground truth: a line is longer than %d bytes", maxTruthLine)
		}
		return nil, fmt.Errorf("ground truth: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("ground truth: no frame")
	}
	return out, nil
}

func parseTruthLine(line []byte) ([]TruthFace, int, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var l truthLine
	if err := dec.Decode(&l); err != nil {
		return nil, 0, fmt.Errorf("not a JSON object {\"frame\":N,\"boxes\":[{\"x\",\"y\",\"w\",\"h\",\"name\"}]}: %v", err)
	}
	if dec.More() {
		return nil, 0, errors.New("more than one JSON value on the line")
	}
	if l.Frame == nil {
		return nil, 0, errors.New(`"frame" is missing`)
	}
	if *l.Frame < 0 || *l.Frame > maxTruthFrame {
		return nil, 0, fmt.Errorf("frame %d: want 0..%d", *l.Frame, maxTruthFrame)
	}
	if l.Boxes == nil {
		return nil, 0, errors.New(`"boxes" is missing (use [] for a frame that shows nobody)`)
	}
	if len(l.Boxes) > maxTruthBoxes {
		return nil, 0, fmt.Errorf("%d boxes: at most %d per frame", len(l.Boxes), maxTruthBoxes)
	}
	fs := make([]TruthFace, 0, len(l.Boxes))
	for i, b := range l.Boxes {
		if b.X == nil || b.Y == nil || b.W == nil || b.H == nil {
			return nil, 0, fmt.Errorf("box %d: x, y, w and h are required", i)
		}
		x, y, w, h := *b.X, *b.Y, *b.W, *b.H
		if w <= 0 || h <= 0 || w > maxTruthCoord || h > maxTruthCoord {
			return nil, 0, fmt.Errorf("box %d: w %d, h %d: want 1..%d", i, w, h, maxTruthCoord)
		}
		if x < -maxTruthCoord || x > maxTruthCoord || y < -maxTruthCoord || y > maxTruthCoord {
			return nil, 0, fmt.Errorf("box %d: x %d, y %d: want within ±%d", i, x, y, maxTruthCoord)
		}
		if len(b.Name) > maxTruthName || !utf8.ValidString(b.Name) {
			return nil, 0, fmt.Errorf("box %d: name: want valid UTF-8 of at most %d bytes", i, maxTruthName)
		}
		if b.Name == "unknown" {
			return nil, 0, fmt.Errorf(`box %d: name "unknown": leave it empty for a stranger`, i)
		}
		fs = append(fs, TruthFace{Box: [4]int{x, y, x + w, y + h}, Name: b.Name})
	}
	return fs, *l.Frame, nil
}

// TruthAt maps a ground truth (video frame number -> faces) onto the
// bench's frames: at[i] is the video frame number of sampled frame i
// (LoadFramesAt), fed as seq i+1 on every camera. Frames the file does
// not list are not judged.
func TruthAt(gt map[int][]TruthFace, at []int, cameras int) Truth {
	t := Truth{}
	for c := range cameras {
		for i, fr := range at {
			if fs, ok := gt[fr]; ok {
				t[frameKey(camName(c), i+1)] = fs
			}
		}
	}
	return t
}
