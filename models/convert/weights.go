// Package convert turns the face-api (TF.js) face recognition weights into
// dlib's dlib_face_recognition_resnet_model_v1.dat, the model go-face loads.
//
// The weight parsing in this file is pure Go; building and serializing the dlib
// network needs cgo and Debian's libdlib (see dlib.go).
package convert

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
)

// Names of the face-api files this package reads.
const (
	ManifestName = "face_recognition_model-weights_manifest.json"
	BinName      = "face_recognition_model.bin"
	// ModelName is the file name go-face expects for the converted model.
	ModelName = "dlib_face_recognition_resnet_model_v1.dat"
)

// Tensor is one dequantized weight tensor from a TF.js manifest.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

type manifestGroup struct {
	Paths   []string         `json:"paths"`
	Weights []manifestWeight `json:"weights"`
}

type manifestWeight struct {
	Name         string        `json:"name"`
	Shape        []int         `json:"shape"`
	Dtype        string        `json:"dtype"`
	Quantization *quantization `json:"quantization"`
}

type quantization struct {
	Dtype string  `json:"dtype"`
	Scale float64 `json:"scale"`
	Min   float64 `json:"min"`
}

// ReadTFJS reads a TF.js weights manifest and its binary shard(s) and returns
// the dequantized tensors in manifest order. Quantization is handled per entry:
// uint8/uint16 entries are q*scale+min (computed in float64 and rounded to
// float32, as tfjs does), entries without quantization are little-endian
// float32. binPath overrides the shard path for a single-shard manifest; pass
// "" to use the manifest's own paths relative to its directory.
func ReadTFJS(manifestPath, binPath string) ([]Tensor, error) {
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var groups []manifestGroup
	if err := json.Unmarshal(raw, &groups); err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", manifestPath, err)
	}
	var shards []string
	for _, g := range groups {
		shards = append(shards, g.Paths...)
	}
	var data []byte
	if binPath != "" {
		if len(shards) > 1 {
			return nil, fmt.Errorf("manifest %s has %d shards; cannot override with a single .bin", manifestPath, len(shards))
		}
		if data, err = os.ReadFile(binPath); err != nil {
			return nil, fmt.Errorf("read weights: %w", err)
		}
	} else {
		dir := manifestPath[:strings.LastIndexAny(manifestPath, "/\\")+1]
		for _, s := range shards {
			b, err := os.ReadFile(dir + s)
			if err != nil {
				return nil, fmt.Errorf("read weights shard: %w", err)
			}
			data = append(data, b...)
		}
	}

	var out []Tensor
	off := 0
	for _, g := range groups {
		for _, w := range g.Weights {
			if w.Dtype != "float32" {
				return nil, fmt.Errorf("%s: unsupported dtype %q", w.Name, w.Dtype)
			}
			n := 1
			for _, d := range w.Shape {
				n *= d
			}
			t := Tensor{Name: w.Name, Shape: append([]int(nil), w.Shape...), Data: make([]float32, n)}
			q := w.Quantization
			switch {
			case q == nil:
				if off+4*n > len(data) {
					return nil, fmt.Errorf("%s: weights file truncated", w.Name)
				}
				for i := range t.Data {
					t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[off+4*i:]))
				}
				off += 4 * n
			case q.Dtype == "uint8":
				if off+n > len(data) {
					return nil, fmt.Errorf("%s: weights file truncated", w.Name)
				}
				for i := range t.Data {
					t.Data[i] = dequant(float64(data[off+i]), q)
				}
				off += n
			case q.Dtype == "uint16":
				if off+2*n > len(data) {
					return nil, fmt.Errorf("%s: weights file truncated", w.Name)
				}
				for i := range t.Data {
					t.Data[i] = dequant(float64(binary.LittleEndian.Uint16(data[off+2*i:])), q)
				}
				off += 2 * n
			default:
				return nil, fmt.Errorf("%s: unsupported quantization dtype %q", w.Name, q.Dtype)
			}
			out = append(out, t)
		}
	}
	if off != len(data) {
		return nil, fmt.Errorf("manifest describes %d bytes but weights hold %d", off, len(data))
	}
	return out, nil
}

// dequant computes v*scale+min in double precision with a single rounding
// (fused multiply-add), then rounds to float32. math.FMA is exact on every
// architecture (hardware or software), so the converted model is
// bit-identical everywhere; this is the arithmetic that produced the pinned
// model hash. (tfjs rounds the product separately; the two differ by at most
// one float32 ulp on a handful of weights, far below the cross-check
// tolerance.)
func dequant(v float64, q *quantization) float32 {
	return float32(math.FMA(v, q.Scale, q.Min))
}

// residual blocks in network order (input -> output), as named by face-api.
var blockNames = []string{
	"conv32_1", "conv32_2", "conv32_3",
	"conv64_down", "conv64_1", "conv64_2", "conv64_3",
	"conv128_down", "conv128_1", "conv128_2",
	"conv256_down", "conv256_1", "conv256_2",
	"conv256_down_out",
}

// DlibParams flattens face-api tensors into the parameter order and layout
// expected by the C++ side (network order input -> output; con_: filters
// [out][in][kh][kw] then bias; affine_: gamma then beta; fc: [in][out]).
func DlibParams(ts []Tensor) ([]float32, error) {
	byName := make(map[string]Tensor, len(ts))
	for _, t := range ts {
		byName[t.Name] = t
	}
	used := 0
	get := func(name string, shape ...int) (Tensor, error) {
		t, ok := byName[name]
		if !ok {
			return t, fmt.Errorf("tensor %s missing from manifest", name)
		}
		if len(t.Shape) != len(shape) {
			return t, fmt.Errorf("tensor %s: shape %v, want rank %d", name, t.Shape, len(shape))
		}
		for i, d := range shape {
			if d >= 0 && t.Shape[i] != d {
				return t, fmt.Errorf("tensor %s: shape %v, want %v", name, t.Shape, shape)
			}
		}
		used++
		return t, nil
	}

	var out []float32
	convLayer := func(prefix string, k int) error {
		f, err := get(prefix+"/conv/filters", k, k, -1, -1)
		if err != nil {
			return err
		}
		in, nout := f.Shape[2], f.Shape[3]
		b, err := get(prefix+"/conv/bias", nout)
		if err != nil {
			return err
		}
		g, err := get(prefix+"/scale/weights", nout)
		if err != nil {
			return err
		}
		be, err := get(prefix+"/scale/biases", nout)
		if err != nil {
			return err
		}
		// tfjs HWIO [kh][kw][in][out] -> dlib [out][in][kh][kw]
		for o := 0; o < nout; o++ {
			for i := 0; i < in; i++ {
				for y := 0; y < k; y++ {
					for x := 0; x < k; x++ {
						out = append(out, f.Data[((y*k+x)*in+i)*nout+o])
					}
				}
			}
		}
		out = append(out, b.Data...)
		out = append(out, g.Data...)
		out = append(out, be.Data...)
		return nil
	}

	if err := convLayer("conv32_down", 7); err != nil {
		return nil, err
	}
	for _, blk := range blockNames {
		for _, c := range []string{"/conv1", "/conv2"} {
			if err := convLayer(blk+c, 3); err != nil {
				return nil, err
			}
		}
	}
	fc, err := get("fc", 256, 128)
	if err != nil {
		return nil, err
	}
	out = append(out, fc.Data...)
	if used != len(ts) {
		return nil, fmt.Errorf("manifest has %d tensors, conversion used %d", len(ts), used)
	}
	return out, nil
}

// LoadDlibParams reads face-api weights and returns the flat dlib parameters.
func LoadDlibParams(manifestPath, binPath string) ([]float32, error) {
	ts, err := ReadTFJS(manifestPath, binPath)
	if err != nil {
		return nil, err
	}
	return DlibParams(ts)
}
