package plotting

import (
	"math"
	"testing"
)

// TestGroupRunsAndAggSeries: two seeds of dpo and one ipo group as two
// groups by default; the aggregated series of a hand-made 2-seed case is
// the mean and min–max at each step of the union of steps (seed 2 lacks
// step 2, so step 2 has only seed 1's value).
func TestGroupRunsAndAggSeries(t *testing.T) {
	runs := []*Run{{Name: "loss=dpo/seed=1"}, {Name: "loss=ipo/seed=1"}, {Name: "loss=dpo/seed=2"}, {Name: "runs/plain"}}
	gs := groupRuns(runs, DefaultBy)
	if len(gs) != 3 || gs[0].name != "loss=dpo (n=2)" || len(gs[0].runs) != 2 || gs[1].name != "loss=ipo" || gs[2].name != "runs/plain" || !aggregated(gs) {
		t.Fatalf("groups %+v", gs)
	}
	if gs := groupRuns(runs[:3], "seed"); len(gs) != 2 || gs[0].name != "seed=1 (n=2)" {
		t.Errorf("-by seed: %+v", gs)
	}
	if aggregated(groupRuns(runs, "loss,seed")) {
		t.Error("-by loss,seed: every run is its own group")
	}
	x, m, lo, hi := aggSeries([][]float64{{0, 1, 2}, {0, 1}}, [][]float64{{1, 4, 5}, {3, math.NaN()}})
	want := [][]float64{{0, 1, 2}, {2, 4, 5}, {1, 4, 5}, {3, 4, 5}}
	for i, got := range [][]float64{x, m, lo, hi} {
		for j := range want[i] {
			if got[j] != want[i][j] {
				t.Errorf("series %d: %v, want %v", i, got, want[i])
				break
			}
		}
	}
}

func TestSinceFirst(t *testing.T) {
	y := []float64{math.NaN(), 2, 5}
	sinceFirst(y)
	if !math.IsNaN(y[0]) || y[1] != 0 || y[2] != 3 {
		t.Errorf("sinceFirst skips a leading NaN: got %v, want [NaN 0 3]", y)
	}
}
