package cli

import (
	"flag"
	"fmt"
	"time"

	"github.com/facemon/facemon/recognizer/pipeline"
)

// trackFlags configure motion gating and tracking (serve and bench).
type trackFlags struct {
	agree, budget, namedBudget, every int
	motionThreshold                   int
	motionFraction                    float64
	fullEvery                         time.Duration
	detectEvery, idleDetectEvery      int
	cropFullEvery                     int
	noMotion                          bool
	perFrame                          bool
	noTentative                       bool
	noMeanName                        bool
	wideFull                          bool
}

func (t *trackFlags) register(fs *flag.FlagSet) {
	d, m := pipeline.DefaultTrack, pipeline.DefaultMotion
	fs.IntVar(&t.agree, "track-agree", d.Agree, "attempts of a face's track that must name the same person before it is named (1 = decide per attempt)")
	fs.IntVar(&t.budget, "track-budget", d.Budget, "most descriptor attempts per track while it is unknown (0 = every frame)")
	fs.IntVar(&t.namedBudget, "track-named-budget", d.NamedBudget, "most descriptor attempts per track once it is named")
	fs.IntVar(&t.every, "describe-every", d.Every, "frames between descriptor attempts of a named track (an unknown one is attempted every frame until its budget runs out)")
	fs.IntVar(&t.motionThreshold, "motion-threshold", m.Threshold, "grey-level change (0-255) of a 1/8-scale pixel that counts as motion")
	fs.Float64Var(&t.motionFraction, "motion-fraction", m.MinFraction, "fraction of changed 1/8-scale pixels that counts as motion")
	fs.DurationVar(&t.fullEvery, "full-detect-every", m.FullEvery, "run face detection at least this often even without motion")
	fs.IntVar(&t.detectEvery, "detect-every", m.DetectEvery, "while faces are tracked, detect on every Nth frame (boxes and names follow the tracks between; 1 = every frame)")
	fs.IntVar(&t.idleDetectEvery, "idle-detect-every", m.IdleDetectEvery, "with motion but no face tracked, detect on every Nth frame (1 = every moving frame)")
	fs.BoolVar(&t.noTentative, "track-no-tentative", false, "show a track as unknown until --track-agree attempts name it (default: its best recognition so far is shown, flagged tentative; events wait for the agreement either way)")
	fs.BoolVar(&t.noMeanName, "track-no-mean", false, "name a track by its attempts' vote alone (default: also by the mean of its descriptors once it has --track-agree attempts, when (agree+1)/2 of them named that person)")
	fs.IntVar(&t.cropFullEvery, "crop-full-every", m.CropFullEvery, "while faces are tracked, every Nth detection covers the moving region (new faces), the others only the tracks' surroundings (1 = every detection covers the moving region)")
	fs.BoolVar(&t.wideFull, "wide-full-detector", false, "wide scans (the frame or the moving region, when no face is tracked and periodically for new faces) use the full HOG detector, as detections around tracked faces do; by default they use a fast one (its upright filters on a coarser pyramid: about 2/3 of the CPU, ~1-2 % fewer faces found on still photos; a tracked face it misses is looked for with the full one)")
	fs.BoolVar(&t.noMotion, "no-motion-gate", false, "run face detection on every frame")
	fs.BoolVar(&t.perFrame, "per-frame", false, "the per-frame method: detect, describe and re-encode every frame (no decode-once, gating or track budget)")
}

func (t *trackFlags) config() (pipeline.TrackConfig, pipeline.MotionConfig, error) {
	if t.agree < 1 || t.agree > 12 {
		return pipeline.TrackConfig{}, pipeline.MotionConfig{}, fmt.Errorf("%w: --track-agree %d: want 1..12", errUsage, t.agree)
	}
	if t.budget < 0 || t.budget > 1000 || t.namedBudget < 0 || t.namedBudget > 1000 || t.every < 1 || t.every > 1000 {
		return pipeline.TrackConfig{}, pipeline.MotionConfig{}, fmt.Errorf("%w: --track-budget, --track-named-budget: want 0..1000; --describe-every: 1..1000", errUsage)
	}
	if t.motionThreshold < 0 || t.motionThreshold > 255 || t.motionFraction < 0 || t.motionFraction > 1 || t.fullEvery <= 0 || t.detectEvery < 1 || t.detectEvery > 100 || t.idleDetectEvery < 1 || t.idleDetectEvery > 100 || t.cropFullEvery < 1 || t.cropFullEvery > 100 {
		return pipeline.TrackConfig{}, pipeline.MotionConfig{}, fmt.Errorf("%w: --motion-threshold 0..255, --motion-fraction 0..1, --full-detect-every > 0, --detect-every, --idle-detect-every and --crop-full-every 1..100", errUsage)
	}
	tc := pipeline.DefaultTrack
	tc.Agree, tc.Budget, tc.NamedBudget, tc.Every = t.agree, t.budget, t.namedBudget, t.every
	tc.NoTentative, tc.NoMeanName = t.noTentative, t.noMeanName
	mc := pipeline.MotionConfig{Off: t.noMotion, Threshold: t.motionThreshold, MinFraction: t.motionFraction, FullEvery: t.fullEvery, DetectEvery: t.detectEvery, IdleDetectEvery: t.idleDetectEvery, CropFullEvery: t.cropFullEvery, WideFull: t.wideFull}
	return tc, mc, nil
}
