package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/shared/topic"
)

// startOnDemand runs an OnDemand pipeline on the fake engine (a face in
// every frame: scenes 1 and 2 alternate, so every frame moves) and returns
// send(i), which submits frame i and waits for its identities.
func startOnDemand(t *testing.T, every time.Duration) (*fakeCodec, *fakePub, *Pipeline, func(i int)) {
	t.Helper()
	eng := &fakeEngine{scene: 1}
	pool, err := face.NewPool(1, func() (face.Engine, error) { return eng, nil })
	if err != nil {
		t.Fatal(err)
	}
	codec := &fakeCodec{}
	pub := &fakePub{got: make(chan struct{}, 1000)}
	g := gallery.New()
	var d face.Descriptor
	d[0] = 1
	g.Add("alice", gallery.Sample{Descriptor: d, Source: "a.jpg"})
	p := New(Config{Space: topic.Space{}, Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule, Codec: codec, OnDemand: true, ImageEvery: every,
		Motion: MotionConfig{Threshold: 10, MinFraction: 0.01, FullEvery: time.Hour, DetectEvery: 1}}, pool, pub, nil, nil, nil)
	p.SetGallery(g)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	go p.Run(ctx)
	t0 := time.Unix(1000, 0)
	return codec, pub, p, func(i int) {
		t.Helper()
		sc := byte(1 + i%2)
		eng.mu.Lock()
		eng.scene = sc
		eng.mu.Unlock()
		submit(ctx, t, p, pub, i, sc, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
}

func annotatedCount(pub *fakePub) (ids, ann int) {
	pub.mu.Lock()
	defer pub.mu.Unlock()
	return len(pub.ids), len(pub.ann)
}

// Annotated frames on demand (C2): none while the camera has no viewers,
// from the very next frame once its edge reports one, none again when the
// count drops to zero or the edge's will says offline (a killed edge's
// retained count does not keep the drawing on), back when it is online.
func TestAnnotatedOnlyWhileWatched(t *testing.T) {
	codec, pub, p, send := startOnDemand(t, 0)
	p.HandleEdgeStatus("facemon/status/edge/c", []byte(topic.Online))
	n := 0
	frames := func(k int) (ids, ann int) {
		t.Helper()
		i0, a0 := annotatedCount(pub)
		for range k {
			n++
			send(n)
		}
		i1, a1 := annotatedCount(pub)
		return i1 - i0, a1 - a0
	}
	step := func(what string, k, wantAnn int) {
		t.Helper()
		ids, ann := frames(k)
		if ids != k || ann != wantAnn {
			t.Fatalf("%s: %d frames gave %d identities and %d annotated frames; want %d and %d", what, k, ids, ann, k, wantAnn)
		}
	}
	step("no viewers message yet", 5, 0)
	if codec.annotate != 0 {
		t.Fatalf("%d frames drawn with nobody watching", codec.annotate)
	}
	p.HandleViewers("cam/c/viewers", []byte(`{"v":1,"viewers":0}`))
	step("viewers 0", 3, 0)
	p.HandleViewers("cam/c/viewers", []byte(`{"v":1,"viewers":1}`))
	step("a viewer arrived", 1, 1) // the first frame after the message
	step("still watched", 4, 4)
	p.HandleEdgeStatus("facemon/status/edge/c", []byte(topic.Offline)) // the will of a killed edge
	step("edge offline, retained viewers 1", 3, 0)
	p.HandleEdgeStatus("facemon/status/edge/c", []byte(topic.Online))
	step("edge back online", 2, 2)
	p.HandleViewers("cam/c/viewers", nil) // clean stop: empty retained message
	step("viewers cleared", 3, 0)
	p.HandleViewers("cam/c/viewers", []byte(`{"v":7,"viewers":1}`)) // malformed: ignored
	step("malformed viewers message", 2, 0)
	p.HandleViewers("cam/c/viewers", []byte(`{"v":1,"viewers":2}`))
	step("two viewers", 2, 2)
	if p.Viewers("c") != 2 || p.Viewers("other") != 0 {
		t.Fatalf("Viewers: c %d, other %d", p.Viewers("c"), p.Viewers("other"))
	}
	// Another edge (--view-all) shows camera c live while c's own edge has
	// no viewers: c is drawn while that edge is online and lists it.
	p.HandleViewers("cam/c/viewers", []byte(`{"v":1,"viewers":0}`))
	step("own viewers gone", 2, 0)
	p.HandleEdgeStatus("facemon/status/edge/front", []byte(topic.Online))
	p.HandleViewers("cam/front/viewers", []byte(`{"v":1,"viewers":0,"remote":["c"]}`))
	step("watched from edge front", 2, 2)
	p.HandleEdgeStatus("facemon/status/edge/front", []byte(topic.Offline))
	step("edge front offline", 2, 0)
	p.HandleEdgeStatus("facemon/status/edge/front", []byte(topic.Online))
	step("edge front back", 1, 1)
	p.HandleViewers("cam/front/viewers", []byte(`{"v":1,"viewers":1}`))
	step("front watches only itself", 2, 0)
}

// With nobody watching, a followed frame (no detection) is not decoded at
// all: the only decode left is detection's.
func TestUnwatchedFramesAreNotDecodedForDrawing(t *testing.T) {
	for _, watched := range []bool{false, true} {
		eng := &fakeEngine{scene: 1}
		pool, _ := face.NewPool(1, func() (face.Engine, error) { return eng, nil })
		codec := &fakeCodec{}
		pub := &fakePub{got: make(chan struct{}, 1000)}
		p := New(Config{Space: topic.Space{}, Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule, Codec: codec, OnDemand: true,
			Motion: MotionConfig{Threshold: 10, MinFraction: 0.01, FullEvery: time.Hour, DetectEvery: 100, IdleDetectEvery: 100}}, pool, pub, nil, nil, nil)
		p.HandleEdgeStatus("facemon/status/edge/c", []byte(topic.Online))
		if watched {
			p.HandleViewers("cam/c/viewers", []byte(`{"v":1,"viewers":1}`))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		go p.Run(ctx)
		for i := 1; i <= 10; i++ { // a still face: detected once, then followed
			submit(ctx, t, p, pub, i, 1, time.Unix(1000, 0).Add(time.Duration(i)*100*time.Millisecond))
		}
		cancel()
		_, ann := annotatedCount(pub)
		t.Logf("watched %v: %d decodes, %d drawn, %d annotated published, %d detections", watched, codec.decodes, codec.annotate, ann, eng.detects)
		if !watched && (codec.decodes != 1 || codec.annotate != 0 || ann != 0) {
			t.Fatalf("unwatched: %d decodes, %d drawn, %d published; want 1, 0, 0", codec.decodes, codec.annotate, ann)
		}
		if watched && ann != 10 {
			t.Fatalf("watched: %d annotated frames for 10", ann)
		}
	}
}

// ImageEvery (serve --ha-image-interval): an unwatched camera gets one
// annotated frame per interval, for Home Assistant's image entity.
func TestImageEveryForUnwatchedCameras(t *testing.T) {
	_, pub, p, send := startOnDemand(t, time.Hour)
	p.HandleEdgeStatus("facemon/status/edge/c", []byte(topic.Online))
	for i := 1; i <= 6; i++ {
		send(i)
	}
	if ids, ann := annotatedCount(pub); ids != 6 || ann != 1 {
		t.Fatalf("unwatched with a 1 h image interval: %d identities, %d annotated; want 6, 1", ids, ann)
	}
}
