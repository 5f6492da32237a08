package eval

import (
	"fmt"
	"testing"

	"github.com/facemon/facemon/recognizer/gallery"
)

// Synthetic people: each a cluster on its own axis (1.4 from the others),
// photo j of person p at 1 + 0.1*j along it (0.1 apart: near-duplicates
// at MinDistance 0.12, none at 0.05).
func TestHouseholdConfirmedSynthetic(t *testing.T) {
	var items []Item
	for p := 0; p < 12; p++ {
		for j := 0; j < 6; j++ {
			items = append(items, Item{Person: fmt.Sprintf("p%02d", p), Source: fmt.Sprintf("p%02d/%d", p, j), Desc: d(p, 1+0.1*float32(j))})
		}
	}
	rule := gallery.Rule{Threshold: 0.55}
	s := ConfirmedSetup{People: 4, Rounds: 30, Ns: []int{0, 1, 3}, Confirm: rule, MinDistance: 0.05, Seed: 3}
	res := HouseholdConfirmed(items, s, []gallery.Rule{rule, {Threshold: 0.15}})
	if len(res) != 3 || res[0].Accepted != 0 || res[0].Points[0].Enrolled.Queries == 0 {
		t.Fatalf("N=0: %+v", res[0])
	}
	if !(res[1].Accepted > 0 && res[2].Accepted > res[1].Accepted) {
		t.Fatalf("accepted: N=1 %d, N=3 %d", res[1].Accepted, res[2].Accepted)
	}
	for _, r := range res {
		if r.Wrong != 0 {
			t.Fatalf("N=%d: %d wrong crops among well separated people", r.N, r.Wrong)
		}
	}
	// At a tight threshold more crops name more queries.
	n0, n3 := res[0].Points[1].Enrolled, res[2].Points[1].Enrolled
	if n3.Rate(n3.Correct) <= n0.Rate(n0.Correct) {
		t.Fatalf("tight threshold: N=0 %.2f, N=3 %.2f", n0.Rate(n0.Correct), n3.Rate(n3.Correct))
	}
	// Near-duplicates are skipped.
	s.MinDistance = 0.12
	if r := HouseholdConfirmed(items, s, []gallery.Rule{rule}); r[2].Duplicates == 0 {
		t.Fatalf("no near-duplicate skipped at 0.12: %+v", r[2])
	}
}
