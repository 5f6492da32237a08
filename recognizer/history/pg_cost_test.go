//go:build unix

package history

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/shared/testx"
)

// TestPostgresCostPerEvents measures what the shared history costs
// PostgreSQL (issue 19 item 4): events are recorded through the history
// API (Store.Record, as serve --db's recorder does, with a real 853x480
// JPEG frame and its crop, one named face each, every sighting recorded)
// into Debian's PostgreSQL, and the server's own CPU (postmaster and
// backends, /proc) and the database's growth (pg_database_size) are
// reported per 10,000 events. FACEMON_PG_EVENTS sets the count (default
// 500, so CI stays quick; the figures are scaled to 10,000 and say so).
func TestPostgresCostPerEvents(t *testing.T) {
	n := 500
	if v := os.Getenv("FACEMON_PG_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			t.Fatalf("FACEMON_PG_EVENTS=%q: want a number >= 100", v)
		}
	}
	shared := os.Getenv("FACEMON_SHARED")
	if shared == "" {
		shared = filepath.Join("..", "..", "..", "shared")
	}
	frame, err := os.ReadFile(filepath.Join(shared, "testdata", "edge", "obama-480p.jpg"))
	if err != nil {
		t.Fatalf("shared test frame: %v (set FACEMON_SHARED)", err)
	}
	srv := testx.StartPostgres(t)
	admin, err := sql.Open("pgx", srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	size := func() int64 {
		var b int64
		if err := admin.QueryRow(`SELECT pg_database_size(current_database())`).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	s, err := Open(Config{DSN: srv.DSN, Debounce: -1, MaxBytes: -1, MaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewSource(1))
	desc := func() face.Descriptor {
		var d face.Descriptor
		for i := range d {
			d[i] = float32(rng.NormFloat64() * 0.09)
		}
		return d
	}
	names := []string{"alice", "bob", "carol", "dave", "erin"}
	size0 := size()
	cpu0, err := srv.CPU()
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour)
	began := time.Now()
	stored := 0
	for i := 0; i < n; i++ {
		rec, err := s.Record(ctx, Observation{Camera: fmt.Sprintf("cam%d", i%6+1), Time: base.Add(time.Duration(i) * time.Millisecond), Frame: frame,
			Faces: []Seen{{Name: names[i%len(names)], Distance: 0.4, Box: [4]int{330, 60, 520, 280}, Descriptor: desc()}}})
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		stored += len(rec.Events)
	}
	wall := time.Since(began)
	cpu1, err := srv.CPU()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`CHECKPOINT`); err != nil { // WAL and buffers out to the files measured
		t.Fatal(err)
	}
	size1 := size()
	if stored != n {
		t.Fatalf("%d events stored of %d", stored, n)
	}
	var count int64
	var frameBytes, cropBytes float64
	if err := admin.QueryRow(`SELECT count(*), avg(length(frame)), avg(length(crop)) FROM events`).Scan(&count, &frameBytes, &cropBytes); err != nil {
		t.Fatal(err)
	}
	if count != int64(n) {
		t.Fatalf("events table holds %d rows, recorded %d", count, n)
	}
	per := 10000 / float64(n)
	load, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(load)); len(f) >= 3 {
		load = []byte(strings.Join(f[:3], " "))
	}
	t.Logf("PostgreSQL per 10,000 events (measured on %d, scaled x%.1f; frame %.0f B, crop %.0f B per event; load %s):\n"+
		"  server CPU %v (%.2f ms/event), database growth %.1f MiB (%.1f KiB/event), recording wall time %v (%.2f ms/event)",
		n, per, frameBytes, cropBytes, string(load),
		time.Duration(float64(cpu1-cpu0)*per).Round(time.Millisecond), float64((cpu1-cpu0).Microseconds())/1000/float64(n),
		float64(size1-size0)*per/(1<<20), float64(size1-size0)/float64(n)/1024,
		time.Duration(float64(wall)*per).Round(time.Millisecond), float64(wall.Microseconds())/1000/float64(n))
}
