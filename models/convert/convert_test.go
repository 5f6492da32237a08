//go:build cgo

package convert

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// PinnedModelSHA256 is the sha256 of the converted model (see the provision
// package, which pins the same value).
const PinnedModelSHA256 = "901e35cc42c03cc7a7f154813a62168de1784a47f4d8ec32de5411f59371c87e"

func fileSHA256(t testing.TB, p string) (string, int64) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), int64(len(b))
}

func TestFaceAPIToDlibPinnedHash(t *testing.T) {
	dir := faceAPIModelDir(t)
	out := filepath.Join(t.TempDir(), ModelName)
	if err := FaceAPIToDlib(filepath.Join(dir, ManifestName), filepath.Join(dir, BinName), out); err != nil {
		t.Fatal(err)
	}
	sum, size := fileSHA256(t, out)
	t.Logf("converted model: %d bytes, sha256 %s", size, sum)
	if sum != PinnedModelSHA256 {
		t.Fatalf("converted model sha256 = %s (%d bytes), want %s", sum, size, PinnedModelSHA256)
	}
}
