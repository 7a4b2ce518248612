package gradstat

import (
	"math"
	"strings"
	"testing"

	"entangle/pkg/runfmt"
)

// row is one output row by column name; null values are absent.
type row map[string]any

// memSink collects the rows written to it.
type memSink struct{ rows []row }

func (m *memSink) Write(b *Batch) error {
	for r := 0; r < b.N; r++ {
		x := row{}
		for c, col := range b.Cols {
			if !b.Valid[c][r] {
				continue
			}
			switch col.Type {
			case Int:
				x[col.Name] = b.Ints[c][r]
			case Float:
				x[col.Name] = b.Fls[c][r]
			case String:
				x[col.Name] = b.Strs[c][r]
			case Bool:
				x[col.Name] = b.Bools[c][r]
			}
		}
		m.rows = append(m.rows, x)
	}
	return nil
}

func (m *memSink) Close() error { return nil }

// engine returns an engine writing table to a memSink, collecting warnings.
func engine(table string, r *Run) (*Engine, *memSink, *[]string) {
	s := &memSink{}
	var warns []string
	e := NewEngine(Options{Table: table, Sink: s, Warn: func(m string) { warns = append(warns, m) }, Workers: 2})
	e.BeginRun(r)
	return e, s, &warns
}

func nan() float64 { return math.NaN() }

// trainPair returns a train-kind pair row with the given reductions and loss
// weights; the rest is null (NaN) or empty.
func trainPair(step, id int64, dot, ww, ll, dw, dl float64) runfmt.PairRow {
	return runfmt.PairRow{Step: step, Kind: "train", Pair: id, Dot: dot, WW: ww, LL: ll, DW: dw, DL: dl, CW: dw, CL: dl,
		LogpW: -10, LogpL: -12, LogpWAfter: nan(), LogpLAfter: nan(), PredW: nan(), PredL: nan()}
}

// close reports |got − want| ≤ tol·max(1, |want|).
func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func wantF(t *testing.T, r row, col string, want float64) {
	t.Helper()
	got, ok := r[col].(float64)
	if !ok {
		t.Errorf("%s = %v (null or missing), want %v", col, r[col], want)
		return
	}
	if !near(got, want, 1e-12) {
		t.Errorf("%s = %v, want %v", col, got, want)
	}
}

func wantI(t *testing.T, r row, col string, want int64) {
	t.Helper()
	if got, ok := r[col].(int64); !ok || got != want {
		t.Errorf("%s = %v, want %d", col, r[col], want)
	}
}

func wantNull(t *testing.T, r row, col string) {
	t.Helper()
	if v, ok := r[col]; ok {
		t.Errorf("%s = %v, want null", col, v)
	}
}

// Hand-worked pairs (values chosen so every statistic is a short fraction):
//
//	A: I=1,   ‖g_w‖²=4, ‖g_l‖²=1: cos = 1/(2·1) = 0.5, norm ratio 1/2, chosen ratio 1/4,
//	   rejected ratio 1, R = 1/min(4,1) = 1; ‖g_w‖²−I = 3 ≥ 0, I−‖g_l‖² = 0 ≤ 0 → case 1;
//	   d_w = d_l = 1: ΔW = 4−1 = 3, ΔL = 1−1 = 0.
//	B: I=3,   ‖g_w‖²=2, ‖g_l‖²=8: cos = 3/4, norm ratio 2, chosen ratio 1.5, rejected 3/8,
//	   R = 3/2; 2−3 < 0 (chosen falls), 3−8 ≤ 0 → case 2. With d_w=2, d_l=1:
//	   ΔW = 2·2 − 1·3 = 1 ≥ 0, ΔL = 2·3 − 8 = −2 → loss case 1.
//	C: I=1.5, ‖g_w‖²=4, ‖g_l‖²=1: cos = 1.5/2 = 0.75, R = 1.5; 4−1.5 ≥ 0, 1.5−1 > 0 → case 3.
var handPairs = []runfmt.PairRow{
	trainPair(7, 100, 1, 4, 1, 1, 1),
	trainPair(7, 101, 3, 2, 8, 2, 1),
	trainPair(7, 102, 1.5, 4, 1, 1, 1),
}

func TestPairsHandWorked(t *testing.T) {
	e, s, warns := engine(TablePairs, &Run{Label: "r", RunID: "abc", Loss: "dpo"})
	if err := e.Step(&StepData{Step: 7, Pairs: handPairs}); err != nil {
		t.Fatal(err)
	}
	if len(s.rows) != 3 || len(*warns) != 0 {
		t.Fatalf("%d rows, warnings %q; want 3 rows, none", len(s.rows), *warns)
	}
	a, b, c := s.rows[0], s.rows[1], s.rows[2]
	if a["run"] != "r" || a["run_id"] != "abc" || a["loss"] != "dpo" || a["kind"] != "train" || a["source"] != "pairs" {
		t.Errorf("identity columns: %v", a)
	}
	wantI(t, a, "step", 7)
	wantI(t, a, "pair", 100)
	wantF(t, a, "cos", 0.5)
	wantF(t, a, "norm_w", 2)
	wantF(t, a, "norm_l", 1)
	wantF(t, a, "norm_ratio", 0.5)
	wantF(t, a, "chosen_ratio", 0.25)
	wantF(t, a, "rejected_ratio", 1)
	wantF(t, a, "R", 1)
	wantI(t, a, "case", 1)
	wantI(t, a, "loss_case", 1)
	wantF(t, a, "pred_dw_sgd", 3)
	wantF(t, a, "pred_dl_sgd", 0)
	wantF(t, a, "dot_se", 0)
	wantNull(t, a, "pred_w")
	wantNull(t, a, "ches")

	wantF(t, b, "cos", 0.75)
	wantF(t, b, "norm_ratio", 2)
	wantF(t, b, "chosen_ratio", 1.5)
	wantF(t, b, "rejected_ratio", 0.375)
	wantF(t, b, "R", 1.5)
	wantI(t, b, "case", 2)
	wantI(t, b, "loss_case", 1)
	wantF(t, b, "pred_dw_sgd", 1)
	wantF(t, b, "pred_dl_sgd", -2)

	wantF(t, c, "cos", 0.75)
	wantF(t, c, "R", 1.5)
	wantI(t, c, "case", 3)
}

func TestStepsHandWorked(t *testing.T) {
	e, s, _ := engine(TableSteps, &Run{Label: "r"})
	steps := []runfmt.StepRow{{Step: 7, Kind: "train", BatchDot: 3, BatchWW: 4, BatchLL: 9, CosMean: 2.0 / 3}, {Step: 7, Kind: "eval", BatchDot: nan()}}
	if err := e.Step(&StepData{Step: 7, Pairs: handPairs, Steps: steps}); err != nil {
		t.Fatal(err)
	}
	if len(s.rows) != 1 {
		t.Fatalf("%d rows, want 1", len(s.rows))
	}
	r := s.rows[0]
	wantI(t, r, "n", 3)
	// cos: sorted 0.5, 0.75, 0.75; mean 2/3, median 0.75; type-7 q05: h = 2·0.05 = 0.1,
	// 0.5 + 0.1·(0.75−0.5) = 0.525; q25: h = 0.5 → 0.625; q75, q95: h ≥ 1 → 0.75.
	wantF(t, r, "cos_mean", 2.0/3)
	wantF(t, r, "cos_median", 0.75)
	wantF(t, r, "cos_q05", 0.525)
	wantF(t, r, "cos_q25", 0.625)
	wantF(t, r, "cos_q75", 0.75)
	wantF(t, r, "cos_q95", 0.75)
	// R: 1, 1.5, 1.5.
	wantF(t, r, "R_mean", 4.0/3)
	wantF(t, r, "R_median", 1.5)
	wantF(t, r, "case1", 1.0/3)
	wantF(t, r, "case2", 1.0/3)
	wantF(t, r, "case3", 1.0/3)
	// loss cases: A 1, B 1 (d_w=2), C 3.
	wantF(t, r, "loss_case1", 2.0/3)
	wantF(t, r, "loss_case2", 0)
	wantF(t, r, "loss_case3", 1.0/3)
	wantF(t, r, "loss_case4", 0)
	wantF(t, r, "logp_w_mean", -10)
	wantF(t, r, "logp_l_mean", -12)
	// batch: 3/√(4·9) = 0.5.
	wantF(t, r, "batch_dot", 3)
	wantF(t, r, "batch_cos", 0.5)
	wantF(t, r, "batch_cos_mean", 2.0/3)
	wantI(t, r, "fo_n", 0)
	wantNull(t, r, "fo_match")
}

// A probe pair with exactly representable log-probs (values chosen by hand):
// obs_w = −4.875 − (−5) = 0.125 = pred_w → relerr_w = 0; obs_l = −6.25 − (−6)
// = −0.25, pred_l = −0.125 → relerr_l = 0.125/0.25 = 0.5; margin: pred 0.25,
// obs 0.375 → 0.125/0.375 = 1/3. Both sign patterns are case 1.
// CHES: H_w = (1,1), H_l = (2,0), n_w = 2, n_l = 1: ⟨H_w,H_l⟩ − ‖H_w‖² = 2 − 2 = 0;
// normalized 2/(2·1) − 2/4 = 0.5.
func probePair() runfmt.PairRow {
	p := trainPair(3, 9, 1, 4, 1, 1, 1)
	p.Kind = "probe"
	p.LogpW, p.LogpL, p.LogpWAfter, p.LogpLAfter = -5, -6, -4.875, -6.25
	p.PredW, p.PredL = 0.125, -0.125
	p.HidW, p.HidL, p.LenW, p.LenL = []float32{1, 1}, []float32{2, 0}, 2, 1
	return p
}

func TestProbeFirstOrderAndCHES(t *testing.T) {
	e, s, warns := engine(TablePairs, &Run{Label: "r"})
	if err := e.Step(&StepData{Step: 3, Pairs: []runfmt.PairRow{probePair()}}); err != nil {
		t.Fatal(err)
	}
	if len(*warns) != 0 {
		t.Fatalf("warnings %q", *warns)
	}
	r := s.rows[0]
	wantF(t, r, "obs_w", 0.125)
	wantF(t, r, "obs_l", -0.25)
	wantF(t, r, "relerr_w", 0)
	wantF(t, r, "relerr_l", 0.5)
	wantF(t, r, "relerr_margin", 1.0/3)
	wantI(t, r, "pred_case", 1)
	wantI(t, r, "obs_case", 1)
	if r["case_match"] != true {
		t.Errorf("case_match = %v, want true", r["case_match"])
	}
	wantF(t, r, "ches", 0)
	wantF(t, r, "ches_norm", 0.5)

	e, s, _ = engine(TableSteps, &Run{Label: "r"})
	p2 := probePair()
	p2.Pair, p2.LogpWAfter = 10, -5.125 // obs_w = −0.125: observed case 2 ≠ predicted case 1
	if err := e.Step(&StepData{Step: 3, Pairs: []runfmt.PairRow{probePair(), p2}}); err != nil {
		t.Fatal(err)
	}
	r = s.rows[0]
	wantI(t, r, "fo_n", 2)
	wantF(t, r, "fo_match", 0.5)
	// relerr_w: 0 and |−0.125−0.125|/0.125 = 2 → median 1.
	wantF(t, r, "fo_relerr_w_median", 1)
}

func TestGroups(t *testing.T) {
	r := &Run{Label: "r", Groups: []runfmt.Group{{Name: "wte", Offset: 0, Size: 4}, {Name: "lm_head", Offset: 4, Size: 4}}}
	e, s, warns := engine(TableGroups, r)
	a := trainPair(1, 1, 1, 4, 1, 1, 1)
	a.DotG, a.WWG, a.LLG = []float64{0.25, 0.75}, []float64{1, 3}, []float64{0.5, 0.5}
	b := trainPair(1, 2, 3, 2, 8, 1, 1)
	b.DotG, b.WWG, b.LLG = []float64{3, 0}, []float64{2, 0}, []float64{4.5, 3.5}
	if err := e.Step(&StepData{Step: 1, Pairs: []runfmt.PairRow{a, b}}); err != nil {
		t.Fatal(err)
	}
	if len(*warns) != 0 || len(s.rows) != 2 {
		t.Fatalf("rows %d warnings %q", len(s.rows), *warns)
	}
	// wte: dot 0.25+3 = 3.25 of total 1+3 = 4; ww 1+2 = 3 of 6; ll 0.5+4.5 = 5 of 9.
	// cos: A 0.25/√(1·0.5) = 0.25·√2, B 3/√(2·4.5) = 1 → mean (0.25√2 + 1)/2.
	g := s.rows[0]
	if g["group"] != "wte" {
		t.Errorf("group = %v", g["group"])
	}
	wantI(t, g, "n", 2)
	wantF(t, g, "dot", 3.25)
	wantF(t, g, "dot_share", 3.25/4)
	wantF(t, g, "ww_share", 0.5)
	wantF(t, g, "ll_share", 5.0/9)
	wantF(t, g, "cos_mean", (0.25*math.Sqrt2+1)/2)
	// lm_head: B has ww_g = 0: its cosine is undefined and skipped → A only,
	// 0.75/√(3·0.5).
	wantF(t, s.rows[1], "cos_mean", 0.75/math.Sqrt(1.5))
	wantF(t, s.rows[1], "dot_share", 0.75/4)

	// Groups that do not add up: a warning naming step and pair.
	e, _, warns = engine(TableGroups, r)
	a.DotG = []float64{0.25, 0.5}
	if err := e.Step(&StepData{Step: 5, Pairs: []runfmt.PairRow{a}}); err != nil {
		t.Fatal(err)
	}
	if len(*warns) != 1 || !strings.Contains((*warns)[0], "step 5: train pair 1: groups do not sum") {
		t.Errorf("warnings %q", *warns)
	}
}

// TestGroupsLoRA: adapter groups (Of "lora") are left out of the check that
// the groups sum to the totals, and their shares are of the adapter totals.
func TestGroupsLoRA(t *testing.T) {
	r := &Run{Label: "r", Groups: []runfmt.Group{{Name: "wte", Offset: 0, Size: 4}, {Name: "lm_head", Offset: 4, Size: 4},
		{Name: "q.lora_A", Offset: 0, Size: 2, Of: runfmt.GroupsLoRA}, {Name: "q.lora_B", Offset: 2, Size: 2, Of: runfmt.GroupsLoRA}}}
	e, s, warns := engine(TableGroups, r)
	a := trainPair(1, 1, 1, 4, 1, 1, 1)
	a.DotG, a.WWG, a.LLG = []float64{0.25, 0.75, 0.1, 0.3}, []float64{1, 3, 0.5, 1.5}, []float64{0.5, 0.5, 0.2, 0.2}
	if err := e.Step(&StepData{Step: 1, Pairs: []runfmt.PairRow{a}}); err != nil {
		t.Fatal(err)
	}
	if len(*warns) != 0 || len(s.rows) != 4 {
		t.Fatalf("rows %d warnings %q", len(s.rows), *warns)
	}
	wantF(t, s.rows[0], "dot_share", 0.25)
	wantF(t, s.rows[2], "dot_share", 0.25)
	wantF(t, s.rows[3], "ww_share", 0.75)
	wantF(t, s.rows[3], "ll_share", 0.5)
}

func TestWarnings(t *testing.T) {
	e, s, warns := engine(TablePairs, &Run{Label: "sweep/x"})
	zero := trainPair(4, 8, 0, 0, 1, 1, 1)
	bad := trainPair(4, 9, nan(), 1, 1, 1, 1)
	inf := trainPair(4, 10, 1, math.Inf(1), 1, 1, 1)
	if err := e.Step(&StepData{Step: 4, Pairs: []runfmt.PairRow{zero, bad, inf}}); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(*warns, "\n")
	for _, want := range []string{"sweep/x: step 4: train pair 8: entangle: zero-norm", "step 4: train pair 9: entangle: NaN", "step 4: train pair 10: entangle: infinite"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings %q lack %q", all, want)
		}
	}
	// Undefined values are null, never NaN; the warning count is on the row.
	wantNull(t, s.rows[0], "cos")
	wantNull(t, s.rows[1], "cos")
	wantI(t, s.rows[1], "case", 0)
	if n := s.rows[0]["warnings"].(int64); n < 1 {
		t.Errorf("warnings column %d", n)
	}
	for _, r := range s.rows {
		for k, v := range r {
			if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				t.Errorf("%s = %v written", k, f)
			}
		}
	}
}

func TestMismatchedLengths(t *testing.T) {
	e, _, _ := engine(TablePairs, &Run{Label: "r"})
	p := probePair()
	p.HidL = []float32{1}
	if err := e.Step(&StepData{Step: 3, Pairs: []runfmt.PairRow{p}}); err == nil || !strings.Contains(err.Error(), "hid_w has 2 values, hid_l 1") {
		t.Errorf("err = %v", err)
	}
	g := []runfmt.GradRow{
		{Step: 1, Kind: "probe", Pair: 1, Side: "chosen", Token: -1, TokenID: -1, Contrastive: -1, Grad: []float32{1, 2}},
		{Step: 1, Kind: "probe", Pair: 1, Side: "rejected", Token: -1, TokenID: -1, Contrastive: -1, Grad: []float32{1, 2, 3}},
	}
	if err := e.Step(&StepData{Step: 1, Grads: g}); err == nil || !strings.Contains(err.Error(), "3 values, earlier rows 2") {
		t.Errorf("err = %v", err)
	}
}

// TestSummaryEvery: with -every 2, train steps 1..3 print 2 and the last
// (3), probe rows always; the last step's train row is printed even when a
// probe row of the same step was due.
func TestSummaryEvery(t *testing.T) {
	var b strings.Builder
	sw := NewSummaryWriter(&b, 2)
	e := NewEngine(Options{Collectors: []Collector{sw}})
	e.BeginRun(&Run{Label: "r"})
	for s := int64(1); s <= 3; s++ {
		rows := []runfmt.PairRow{trainPair(s, 1, 1, 4, 1, 1, 1)}
		if s != 2 {
			p := probePair()
			p.Step = s
			rows = append(rows, p)
		}
		if err := e.Step(&StepData{Step: s, Pairs: rows}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.EndRun(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(b.String(), "\n") {
		if f := strings.Fields(l); len(f) > 2 && (f[1] == "train" || f[1] == "probe") && f[0] != "train" {
			got = append(got, f[0]+f[1][:1])
		}
	}
	if strings.Join(got, " ") != "1p 2t 3p 3t" {
		t.Errorf("printed rows %q:\n%s", got, b.String())
	}
}

// TestLossCaseUsesAppliedWeights: under -normalize train records the loss's
// d_w, d_l and the coefficients it applied, cw = w/‖g_w‖ and cl = w/‖g_l‖;
// the loss-aware case is that of the update applied. Hand-worked pair:
// I = 1.5, ‖g_w‖² = 1, ‖g_l‖² = 4, d_w = d_l = 1 (w = 1):
//
//	loss weights:  ΔW = 1·1 − 1·1.5 = −0.5, ΔL = 1·1.5 − 1·4 = −2.5 → case 2 (both fall)
//	applied (1, ½): ΔW = 1 − ½·1.5 = 0.25,  ΔL = 1.5 − ½·4 = −0.5   → case 1
func TestLossCaseUsesAppliedWeights(t *testing.T) {
	p := trainPair(3, 7, 1.5, 1, 4, 1, 1)
	p.CW, p.CL = 1, 0.5
	e, s, _ := engine(TablePairs, &Run{Label: "r", RunID: "abc", Loss: "dpo"})
	if err := e.Step(&StepData{Step: 3, Pairs: []runfmt.PairRow{p}}); err != nil {
		t.Fatal(err)
	}
	if len(s.rows) != 1 {
		t.Fatalf("%d rows, want 1", len(s.rows))
	}
	r := s.rows[0]
	wantI(t, r, "case", 2)
	wantI(t, r, "loss_case", 1)
	wantF(t, r, "dw", 1)
	wantF(t, r, "dl", 0.5)
	wantF(t, r, "pred_dw_sgd", 0.25)
	wantF(t, r, "pred_dl_sgd", -0.5)
}
