package convert

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestReadTFJSMixedDtypes checks per-entry dtype handling: uint8-quantized
// entries are q*scale+min, unquantized entries are little-endian float32,
// read sequentially in manifest order.
func TestReadTFJSMixedDtypes(t *testing.T) {
	dir := t.TempDir()
	manifest := `[{"paths":["w.bin"],"weights":[
	 {"name":"a","shape":[2],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1}},
	 {"name":"b","shape":[2],"dtype":"float32"},
	 {"name":"c","shape":[1],"dtype":"float32","quantization":{"dtype":"uint8","scale":2,"min":1}}]}]`
	var bin []byte
	bin = append(bin, 0, 4)
	bin = binary.LittleEndian.AppendUint32(bin, math.Float32bits(1.25))
	bin = binary.LittleEndian.AppendUint32(bin, math.Float32bits(-3))
	bin = append(bin, 3)
	if err := os.WriteFile(filepath.Join(dir, "m.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), bin, 0o644); err != nil {
		t.Fatal(err)
	}
	ts, err := ReadTFJS(filepath.Join(dir, "m.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float32{{-1, 1}, {1.25, -3}, {7}}
	for i, tt := range ts {
		for j := range want[i] {
			if tt.Data[j] != want[i][j] {
				t.Errorf("%s[%d] = %v, want %v", tt.Name, j, tt.Data[j], want[i][j])
			}
		}
	}
	// Truncated weights are an error.
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), bin[:5], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTFJS(filepath.Join(dir, "m.json"), ""); err == nil {
		t.Fatal("truncated weights accepted")
	}
}

// TestDlibParamsLayout checks the HWIO -> [out][in][kh][kw] transposition and
// the con/affine/fc ordering on the real face-api manifest.
func TestDlibParamsLayout(t *testing.T) {
	dir := faceAPIModelDir(t)
	ts, err := ReadTFJS(filepath.Join(dir, ManifestName), filepath.Join(dir, BinName))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 4*29+1 {
		t.Fatalf("%d tensors, want %d", len(ts), 4*29+1)
	}
	p, err := DlibParams(ts)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, tt := range ts {
		total += len(tt.Data)
	}
	if len(p) != total {
		t.Fatalf("%d params, want %d", len(p), total)
	}
	f := ts[0] // conv32_down/conv/filters [7][7][3][32]
	// dlib index of filter o=5, in=2, y=3, x=6.
	o, in, y, x := 5, 2, 3, 6
	if got, want := p[((o*3+in)*7+y)*7+x], f.Data[((y*7+x)*3+in)*32+o]; got != want {
		t.Fatalf("transposition: got %v want %v", got, want)
	}
	// fc is last, unchanged.
	fc := ts[len(ts)-1]
	for i := range fc.Data {
		if p[len(p)-len(fc.Data)+i] != fc.Data[i] {
			t.Fatal("fc weights not copied verbatim at the end")
		}
	}
}
