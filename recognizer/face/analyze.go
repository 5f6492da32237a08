package face

import "fmt"

// Analyzer turns encoded images into faces: it prepares the image (format,
// size limits, scaling), runs the engine, drops faces below the minimum
// size and maps boxes back to the original image.
type Analyzer struct {
	Prep     Prep
	Detector Detector
	// MinFace drops faces whose box is narrower than this many original pixels.
	MinFace int
	// CNNFallback retries with the CNN detector on a copy downscaled to
	// CNNMaxSide when HOG finds no face (rescues turned heads in training
	// photos; ~0.5 s per 640x480, so not for live frames).
	CNNFallback bool
	CNNMaxSide  int
}

// DefaultAnalyzer is HOG with the default image preparation.
var DefaultAnalyzer = Analyzer{Prep: DefaultPrep, Detector: HOG, MinFace: 0, CNNMaxSide: 1024}

// Result is what Analyze found in one image.
type Result struct {
	Faces       []Face
	Width       int // original image size
	Height      int
	UsedCNN     bool    // the CNN fallback found the faces
	PreparedJPG []byte  // the image the engine saw
	Scale       float64 // prepared = original * Scale
}

// Analyze finds the faces in data (JPEG or PNG).
func (a Analyzer) Analyze(e Engine, data []byte) (*Result, error) {
	p, err := a.Prep.Prepare(data)
	if err != nil {
		return nil, err
	}
	faces, err := a.run(e, p, a.Detector)
	if err != nil {
		return nil, err
	}
	res := &Result{Faces: faces, Width: p.Width, Height: p.Height, PreparedJPG: p.JPEG, Scale: p.Scale}
	// Every HOG variant falls back (serve runs grey HOG; on encoded images
	// it is the same detector).
	if len(faces) == 0 && a.CNNFallback && a.Detector != CNN {
		side := a.CNNMaxSide
		if side <= 0 {
			side = 1024
		}
		cp, err := a.Prep.prepare(data, side)
		if err != nil {
			return nil, err
		}
		faces, err = a.run(e, cp, CNN)
		if err != nil {
			return nil, fmt.Errorf("cnn fallback: %w", err)
		}
		res.Faces, res.UsedCNN = faces, len(faces) > 0
		if res.UsedCNN {
			res.PreparedJPG, res.Scale = cp.JPEG, cp.Scale
		}
	}
	return res, nil
}

func (a Analyzer) run(e Engine, p *Prepared, det Detector) ([]Face, error) {
	faces, err := e.Recognize(p.JPEG, det)
	if err != nil {
		return nil, err
	}
	out := faces[:0]
	for _, f := range faces {
		f.Box = p.Unscale(f.Box)
		for i, pt := range f.Landmarks {
			f.Landmarks[i] = p.unscalePoint(pt)
		}
		if a.MinFace > 0 && f.Box.Dx() < a.MinFace {
			continue
		}
		out = append(out, f)
	}
	return out, nil
}

// ScanKey names what Analyze looks for faces with ("hog", "hog-grey+cnn",
// ...): a "no face" verdict holds only for the same key (a turned head HOG
// misses, the CNN fallback may find).
func (a Analyzer) ScanKey() string {
	k := a.Detector.String()
	if a.CNNFallback && a.Detector != CNN {
		k += "+cnn"
	}
	if a.MinFace > 0 {
		k += fmt.Sprintf("/min%d", a.MinFace)
	}
	return k
}

// Largest returns the index of the face with the largest box, or -1.
func Largest(faces []Face) int {
	best, area := -1, -1
	for i, f := range faces {
		if a := f.Box.Dx() * f.Box.Dy(); a > area {
			best, area = i, a
		}
	}
	return best
}
