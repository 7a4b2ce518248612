package gradstat

import (
	"bytes"
	"math"
	"testing"

	"entangle/pkg/runfmt"
)

// runsRows feeds steps to an engine collecting the runs table and returns
// its rows.
func runsRows(t *testing.T, runs []*Run, steps [][]StepData) []row {
	t.Helper()
	rc := NewRunCollector()
	e := NewEngine(Options{Table: TableRuns, Collectors: []Collector{rc}, Workers: 1})
	for i, r := range runs {
		e.BeginRun(r)
		for j := range steps[i] {
			if err := e.Step(&steps[i][j]); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.EndRun(); err != nil {
			t.Fatal(err)
		}
	}
	s := &memSink{}
	s.Write(rc.Table())
	return s.rows
}

func withLogp(p runfmt.PairRow, w, l float64) runfmt.PairRow {
	p.LogpW, p.LogpL = w, l
	return p
}

// probeRow is a probe pair with ‖g_w‖² = ‖g_l‖² = 1, d_w = d_l = 1, the
// given dot, log-probs before and after and predicted changes. All values
// are dyadic so that the observed changes are exact.
func probeRow(step, id int64, dot, w, l, wAfter, lAfter, predW, predL float64) runfmt.PairRow {
	return runfmt.PairRow{Step: step, Kind: "probe", Pair: id, Dot: dot, WW: 1, LL: 1, DW: 1, DL: 1, CW: 1, CL: 1,
		LogpW: w, LogpL: l, LogpWAfter: wAfter, LogpLAfter: lAfter, PredW: predW, PredL: predL}
}

// TestRunsHandWorked checks every runs-table column on a two-step run with
// two train and two probe pairs per step, worked out by hand:
//
// train (d_w = d_l = 1 unless said): step 0: p1 dot 1, ww 4, ll 4 (cos 1/4,
// case 1), p2 dot 2, ww 4, ll 1 (cos 1, ww−dot > 0 and dot−ll > 0: both rise,
// case 3); step 1: p3 dot 2, ww 1, ll 4 (cos 1, both fall, case 2), p4 dot
// 1/2, ww = ll = 1, d_l = 3 (cos 1/2, case 1; loss-aware Δw = 1 − 3/2 < 0,
// Δl = 1/2 − 3 < 0: loss case 2).
//
// probes (ww = ll = 1): q1 dot 0, q2 dot 1/2 (both case 1); pred/obs:
// step 0 q1 (1/8, −1/8)/(1/8, −1/4), q2 (−1/4, 1/4)/(−1/8, 1/8);
// step 1 q1 (1/4, −1/8)/(3/8, −1/8), q2 (1/8, 1/8)/(0, 0).
func TestRunsHandWorked(t *testing.T) {
	steps := []StepData{
		{Step: 0, Pairs: []runfmt.PairRow{
			withLogp(trainPair(0, 1, 1, 4, 4, 1, 1), -10, -12),
			withLogp(trainPair(0, 2, 2, 4, 1, 1, 1), -8, -14),
			probeRow(0, 10, 0, -5, -6, -4.875, -6.25, 0.125, -0.125),
			probeRow(0, 11, 0.5, -7, -7, -7.125, -6.875, -0.25, 0.25),
		}},
		{Step: 1, Pairs: []runfmt.PairRow{
			withLogp(trainPair(1, 3, 2, 1, 4, 1, 1), -11, -13),
			withLogp(trainPair(1, 4, 0.5, 1, 1, 1, 3), -9, -17),
			probeRow(1, 10, 0, -4.875, -6.25, -4.5, -6.375, 0.25, -0.125),
			probeRow(1, 11, 0.5, -7.125, -6.875, -7.125, -6.875, 0.125, 0.125),
		}},
	}
	rows := runsRows(t, []*Run{{Label: "task=x/loss=dpo/seed=1", Source: "sw/task=x/loss=dpo/seed=1", RunID: "id", Loss: "dpo"}},
		[][]StepData{steps})
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	for col, want := range map[string]string{"task": "x", "loss": "dpo", "seed": "1", "run": "task=x/loss=dpo/seed=1",
		"path": "sw/task=x/loss=dpo/seed=1", "run_id": "id", "loss_fn": "dpo"} {
		if r[col] != want {
			t.Errorf("%s = %v, want %q", col, r[col], want)
		}
	}
	wantI(t, r, "steps", 2)
	wantI(t, r, "train_steps", 2)
	// Train step means: step 0 logp (−9, −13), cos 5/8; step 1 (−10, −15), cos 3/4.
	wantF(t, r, "train_logp_w_first", -9)
	wantF(t, r, "train_logp_w_last", -10)
	wantF(t, r, "train_logp_w_delta", -1)
	wantF(t, r, "train_logp_l_first", -13)
	wantF(t, r, "train_logp_l_last", -15)
	wantF(t, r, "train_logp_l_delta", -2)
	wantF(t, r, "train_margin_delta", 1)
	wantF(t, r, "train_cos_first", 0.625)
	wantF(t, r, "train_cos_last", 0.75)
	wantF(t, r, "train_cos_mean", 0.6875)
	// Cases over 4 pair-steps: p1, p4 case 1; p3 case 2; p2 case 3.
	wantF(t, r, "train_case1", 0.5)
	wantF(t, r, "train_case2", 0.25)
	wantF(t, r, "train_case3", 0.25)
	// ‖g_l‖² > ‖g_w‖² only for p3 (1 < 4; p1 ties at 4, p2 and p4 do not).
	wantF(t, r, "train_norm_l_larger", 0.25)
	wantF(t, r, "train_loss_case1", 0.25) // p1
	wantF(t, r, "train_loss_case2", 0.5)  // p3, p4
	wantF(t, r, "train_loss_case3", 0.25) // p2
	wantF(t, r, "train_loss_case4", 0)
	wantNull(t, r, "train_chosen_fell") // train rows have no after-step log-probs
	wantF(t, r, "train_chosen_fell_pred", 0.5)
	// Probes: means step 0 (−6, −6.5), step 1 (−6, −6.5625); cos (0 + 1/2)/2.
	wantI(t, r, "probe_steps", 2)
	wantF(t, r, "probe_logp_w_delta", 0)
	wantF(t, r, "probe_logp_l_first", -6.5)
	wantF(t, r, "probe_logp_l_delta", -0.0625)
	wantF(t, r, "probe_margin_delta", 0.0625)
	wantF(t, r, "probe_cos_first", 0.25)
	wantF(t, r, "probe_cos_mean", 0.25)
	wantF(t, r, "probe_case1", 1)
	wantF(t, r, "probe_chosen_fell", 0.25) // only q2 at step 0 fell; q2 at step 1 did not move
	wantF(t, r, "probe_chosen_fell_pred", 0)
	wantF(t, r, "probe_fell_agree", 0.75) // predicted "rises" everywhere; q2 at step 0 fell
	wantNull(t, r, "train_fell_agree")
	// First order, in units of 1/32 about the means: pred_w − 1/16 =
	// (2, −10, 6, 2), obs_w − 3/32 = (1, −7, 9, −3): Σxy 120, Σxx 144,
	// Σyy 140 (×1/1024) ⇒ corr 120/√(144·140) = √35/7. pred_l − 1/32 =
	// (−5, 7, −5, 3), obs_l + 1/16 = (−6, 6, −2, 2): 88/√(108·80).
	wantI(t, r, "fo_n", 4)
	wantF(t, r, "fo_corr_w", math.Sqrt(35)/7)
	wantF(t, r, "fo_corr_l", 88/math.Sqrt(108*80))
	// relerr_w: 0, (1/8)/(1/4), (1/8)/(3/8), 1 ⇒ mean 11/24; relerr_l: 1/2, 1/2, 0, 1.
	wantF(t, r, "fo_relerr_w_mean", 11.0/24)
	wantF(t, r, "fo_relerr_l_mean", 0.5)
	// Sorted relerr_w 0, 1/3, 1/2, 1: median (1/3 + 1/2)/2 = 5/12; p90 at
	// position 0.9·3 = 2.7: 1/2 + 0.7·(1 − 1/2) = 0.85. relerr_l sorted
	// 0, 1/2, 1/2, 1: median 1/2, p90 0.85. pred_w = (1/8, −1/4, 1/4, 1/8),
	// obs_w = (1/8, −1/8, 3/8, 0): |residual| 0, 1/8, 1/8, 1/8, median 1/8;
	// pred_l = (−1/8, 1/4, −1/8, 1/8), obs_l = (−1/4, 1/8, −1/8, 0): 1/8, 1/8, 0, 1/8.
	wantF(t, r, "fo_relerr_w_median", 5.0/12)
	wantF(t, r, "fo_relerr_w_p90", 0.85)
	wantF(t, r, "fo_relerr_l_median", 0.5)
	wantF(t, r, "fo_relerr_l_p90", 0.85)
	wantF(t, r, "fo_resid_w_median", 0.125)
	wantF(t, r, "fo_resid_l_median", 0.125)
	wantI(t, r, "fo_wrong_way", 1) // q2 at step 0: pred_w − pred_l = −1/2
	wantI(t, r, "warnings", 0)
}

// TestRunsLabelsAndMissingKinds: label columns are the union of the keys in
// order of first appearance, null where absent; a run without probes has
// null probe and first-order columns.
func TestRunsLabelsAndMissingKinds(t *testing.T) {
	st := []StepData{{Step: 0, Pairs: []runfmt.PairRow{trainPair(0, 1, 1, 4, 4, 1, 1)}}}
	rows := runsRows(t, []*Run{{Label: "loss=dpo/seed=1/steps=100"}, {Label: "task=t/seed=2"}}, [][]StepData{st, st})
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	// steps=… collides with the fixed column steps: label_steps.
	if rows[0]["label_steps"] != "100" || rows[0]["steps"] != int64(1) || rows[0]["loss"] != "dpo" || rows[0]["seed"] != "1" || rows[1]["seed"] != "2" || rows[1]["task"] != "t" {
		t.Errorf("labels: %v / %v", rows[0], rows[1])
	}
	wantNull(t, rows[0], "task")
	wantNull(t, rows[1], "loss")
	wantI(t, rows[0], "probe_steps", 0)
	wantNull(t, rows[0], "probe_logp_w_first")
	wantI(t, rows[0], "fo_n", 0)
	wantNull(t, rows[0], "fo_corr_w")
	wantNull(t, rows[0], "fo_wrong_way")
}

// aggInput is a hand-made runs-like table: loss, seed, a (float, one null), k (int).
func aggInput() *Batch {
	b := NewBatch([]Column{{"loss", String, "l"}, {"seed", String, "s"}, {"a", Float, "a"}, {"k", Int, "k"}})
	add := func(loss, seed string, a float64, k int64) {
		b.Row()
		b.Str("loss", loss)
		b.Str("seed", seed)
		b.Float("a", a)
		b.Int("k", k)
		b.End()
	}
	add("dpo", "1", 1, 2)
	add("ipo", "1", 5, 3)
	add("dpo", "2", 3, 4)
	add("dpo", "3", math.NaN(), 6)
	return b
}

// TestAggregate: dpo has a = {1, 3} (mean 2, sd √((1+1)/1) = √2) and k =
// {2, 4, 6} (mean 4, sd √((4+0+4)/2) = 2); ipo a single run (sd null).
func TestAggregate(t *testing.T) {
	a, err := Aggregate(aggInput(), []string{"loss"})
	if err != nil {
		t.Fatal(err)
	}
	s := &memSink{}
	s.Write(a)
	if len(s.rows) != 2 || s.rows[0]["loss"] != "dpo" || s.rows[1]["loss"] != "ipo" {
		t.Fatalf("groups (first appearance): %v", s.rows)
	}
	if _, ok := s.rows[0]["seed_mean"]; ok {
		t.Error("string column seed aggregated")
	}
	d, i := s.rows[0], s.rows[1]
	wantI(t, d, "runs", 3)
	wantF(t, d, "a_mean", 2)
	wantF(t, d, "a_sd", math.Sqrt2)
	wantF(t, d, "a_min", 1)
	wantF(t, d, "a_max", 3)
	wantI(t, d, "a_n", 2)
	wantF(t, d, "k_mean", 4)
	wantF(t, d, "k_sd", 2)
	wantF(t, d, "k_min", 2)
	wantF(t, d, "k_max", 6)
	wantI(t, d, "k_n", 3)
	wantI(t, i, "runs", 1)
	wantF(t, i, "a_mean", 5)
	wantNull(t, i, "a_sd")
	wantI(t, i, "a_n", 1)
	if _, err := Aggregate(aggInput(), []string{"nope"}); err == nil {
		t.Error("unknown key accepted")
	}
	if _, err := Aggregate(aggInput(), []string{"k"}); err == nil {
		t.Error("numeric key accepted")
	}
	// Two keys: every row its own group.
	a2, _ := Aggregate(aggInput(), []string{"loss", "seed"})
	if a2.N != 4 {
		t.Errorf("loss,seed: %d groups, want 4", a2.N)
	}
}

// TestMarkdownTable: aggregated columns collapse to "mean ± sd", with the
// count when it differs from runs; numbers to 4 significant digits.
func TestMarkdownTable(t *testing.T) {
	a, _ := Aggregate(aggInput(), []string{"loss"})
	a, err := Select(a, []string{"loss", "runs", "a", "k"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	s := NewMarkdownSink(&buf, a.Cols, nil)
	if err := s.Write(a); err != nil {
		t.Fatal(err)
	}
	s.Close()
	want := "| loss | runs | a | k |\n|---|---|---|---|\n" +
		"| dpo | 3 | 2 ± 1.414 (n=2) | 4 ± 2 |\n" +
		"| ipo | 1 | 5 | 3 |\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	if _, err := Select(a, []string{"zzz"}); err == nil {
		t.Error("unknown column selected")
	}
}

func TestMeanSDAndPearson(t *testing.T) {
	if m, sd, lo, hi := MeanSD(nil); !math.IsNaN(m) || !math.IsNaN(sd) || !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Error("MeanSD(nil) not NaN")
	}
	if c := Pearson([]float64{1, 2, 3}, []float64{-2, -4, -6}); !near(c, -1, 1e-15) {
		t.Errorf("Pearson of a decreasing line = %v", c)
	}
	if c := Pearson([]float64{1, 2}, []float64{3, 3}); !math.IsNaN(c) {
		t.Errorf("Pearson without spread = %v", c)
	}
}
