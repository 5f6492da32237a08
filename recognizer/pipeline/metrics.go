package pipeline

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	received, dropped, processed  prometheus.Counter
	rejected                      *prometheus.CounterVec
	bad, faces                    *prometheus.CounterVec
	latency, procSeconds          prometheus.Histogram
	galleryPeople, gallerySamples prometheus.Gauge
	gated, described, detectPx    prometheus.Counter
	framePx                       prometheus.Counter
	stage                         *prometheus.HistogramVec
	annotatedSkipped              prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		received:  prometheus.NewCounter(prometheus.CounterOpts{Name: "facemon_recognizer_frames_received_total", Help: "Frames accepted into a mailbox."}),
		dropped:   prometheus.NewCounter(prometheus.CounterOpts{Name: "facemon_recognizer_frames_dropped_total", Help: "Frames dropped before processing: a newer frame arrived at a full mailbox (--mailbox-depth), or the camera's state was dropped."}),
		processed: prometheus.NewCounter(prometheus.CounterOpts{Name: "facemon_recognizer_frames_processed_total", Help: "Frames recognized."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facemon_recognizer_frames_rejected_total",
			Help: "Frames of cameras refused before any state was kept: reason unregistered (not in --cameras, no online edge status), bound (--max-cameras active cameras)."}, []string{"reason"}),
		bad:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facemon_recognizer_frames_bad_total", Help: "Frames rejected (corrupt, oversized, bad topic)."}, []string{"reason"}),
		faces: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facemon_recognizer_faces_total", Help: "Faces found, by whether they were named."}, []string{"known"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "facemon_recognizer_capture_to_identity_seconds", Help: "Time from capture on the edge to the identities message.",
			Buckets: prometheus.ExponentialBuckets(0.01, 1.6, 14)}),
		procSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "facemon_recognizer_processing_seconds", Help: "Time to recognize and annotate one frame.",
			Buckets: prometheus.ExponentialBuckets(0.005, 1.6, 14)}),
		gated:     prometheus.NewCounter(prometheus.CounterOpts{Name: "facemon_recognizer_frames_gated_total", Help: "Frames that skipped detection because nothing moved."}),
		described: prometheus.NewCounter(prometheus.CounterOpts{Name: "facemon_recognizer_faces_described_total", Help: "Face descriptors computed (the rest followed their track)."}),
		detectPx:  prometheus.NewCounter(prometheus.CounterOpts{Name: "facemon_recognizer_detect_pixels_total", Help: "Pixels scanned by the face detector."}),
		framePx:   prometheus.NewCounter(prometheus.CounterOpts{Name: "facemon_recognizer_frame_pixels_total", Help: "Pixels of the frames that went through detection."}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "facemon_recognizer_stage_seconds", Help: "Time per frame in each stage (motion, decode, detect, describe = landmarks + descriptors, match, annotate, publish).",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}, []string{"stage"}),
		annotatedSkipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "facemon_recognizer_annotated_skipped_total",
			Help: "Frames that got no annotated frame because no live view watched their camera (annotated frames on demand)."}),
		galleryPeople:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "facemon_recognizer_gallery_people", Help: "People in the gallery."}),
		gallerySamples: prometheus.NewGauge(prometheus.GaugeOpts{Name: "facemon_recognizer_gallery_samples", Help: "Samples in the gallery."}),
	}
	if reg != nil {
		reg.MustRegister(m.received, m.rejected, m.dropped, m.processed, m.bad, m.faces, m.latency, m.procSeconds, m.galleryPeople, m.gallerySamples, m.gated, m.described, m.detectPx, m.framePx, m.stage, m.annotatedSkipped)
	}
	return m
}
