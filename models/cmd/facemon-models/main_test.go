package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestUsageAndErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"facemon-models"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage:") {
		t.Fatalf("no args: code %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"facemon-models", "bogus"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("bogus: code %d, stderr %q", code, errb.String())
	}
}

func TestVerifyEmptyDirFails(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"facemon-models", "verify", "--dir", t.TempDir()}, &out, &errb)
	if code != 1 {
		t.Fatalf("code %d", code)
	}
	for _, want := range []string{"MISSING", "mmod_human_face_detector.dat", "dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat", "shape_predictor_68_face_landmarks.dat"} {
		if !strings.Contains(out.String()+errb.String(), want) {
			t.Errorf("output lacks %q:\n%s%s", want, out.String(), errb.String())
		}
	}
}
