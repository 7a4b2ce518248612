package gradstat

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"entangle/pkg/entangle"
	"entangle/pkg/runfmt"
)

// softmaxGrad returns the gradient of log p_a with respect to the last-layer
// weights W (V×C, row-major) of the model logits = W·h (paper §4.1):
// ∂log p_a/∂W[v][c] = (δ_va − p_v)·h_c.
func softmaxGrad(p []float64, h []float64, a int) []float32 {
	C := len(h)
	g := make([]float32, len(p)*C)
	for v := range p {
		d := -p[v]
		if v == a {
			d += 1
		}
		for c := range h {
			g[v*C+c] = float32(d * h[c])
		}
	}
	return g
}

func seqRow(step int64, kind string, pair int64, side string, g []float32) runfmt.GradRow {
	return runfmt.GradRow{Step: step, Kind: kind, Pair: pair, Side: side, Token: -1, TokenID: -1, Contrastive: -1, Grad: g}
}

// TestClosedForms checks the paper §4.1 closed forms through the grads path:
// ⟨g_a,g_b⟩ = ‖h‖²(‖p‖² − p_a − p_b), ‖g_a‖² = ‖h‖²(1 − 2p_a + ‖p‖²), and for
// next-token mass on {a, b} only, cos = −1 exactly. Probabilities and h are
// dyadic, so every vector entry and every product is exact in float32/float64
// and the comparisons are exact.
func TestClosedForms(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     []float64
		h     []float64
		a, b  int
		case_ int64
	}{
		// ‖h‖² = 9, ‖p‖² = 1/4+1/16+1/64+1/64 = 0.34375: I = 9(0.34375−0.75) = −3.65625.
		{"modal chosen", []float64{0.5, 0.25, 0.125, 0.125}, []float64{1, 2, 2}, 0, 1, 1},
		// A third token dominates: ‖p‖² = 2/64 + 9/16 = 0.59375, I = 9(0.59375−0.25) > 0,
		// yet Condition 1 holds (p_a − p_b ≤ 1): case 1.
		{"third token dominates", []float64{0.125, 0.125, 0.75, 0}, []float64{1, 2, 2}, 0, 1, 1},
		// Two-token support: anti-parallel. h = (1, 1) makes the norms exact too:
		// ‖g_a‖² = 2·2·(1/4)² = 1/4, ‖g_b‖² = 2·2·(3/4)² = 9/4, I = 2(5/8 − 1) = −3/4,
		// so cos = −0.75/(0.5·1.5) = −1 with no rounding anywhere.
		{"two-token support", []float64{0.75, 0.25, 0, 0}, []float64{1, 1}, 0, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pp, hh float64
			for _, v := range tc.p {
				pp += v * v
			}
			h := tc.h
			for _, v := range h {
				hh += v * v
			}
			wantDot := hh * (pp - tc.p[tc.a] - tc.p[tc.b])
			wantWW := hh * (1 - 2*tc.p[tc.a] + pp)
			wantLL := hh * (1 - 2*tc.p[tc.b] + pp)
			e, s, warns := engine(TablePairs, &Run{Label: "cf", Sketch: "full"})
			g := []runfmt.GradRow{
				seqRow(0, "probe", 1, "chosen", softmaxGrad(tc.p, h, tc.a)),
				seqRow(0, "probe", 1, "rejected", softmaxGrad(tc.p, h, tc.b)),
			}
			if err := e.Step(&StepData{Step: 0, Grads: g}); err != nil {
				t.Fatal(err)
			}
			if len(s.rows) != 1 || len(*warns) != 0 {
				t.Fatalf("rows %v warnings %q", s.rows, *warns)
			}
			r := s.rows[0]
			if r["source"] != "grads" || r["estimate"] != false {
				t.Errorf("source %v estimate %v", r["source"], r["estimate"])
			}
			if r["dot"] != wantDot || r["norm_w"] != math.Sqrt(wantWW) || r["norm_l"] != math.Sqrt(wantLL) {
				t.Errorf("dot %v norms %v %v, want %v %v %v", r["dot"], r["norm_w"], r["norm_l"], wantDot, math.Sqrt(wantWW), math.Sqrt(wantLL))
			}
			wantI(t, r, "case", tc.case_)
			if tc.name == "two-token support" && r["cos"] != -1.0 {
				t.Errorf("cos = %v, want −1 exactly", r["cos"])
			}
		})
	}
}

// TestGradsJoin: recomputed rows take d_w, d_l and log-probs from the matching
// pairs.arrows row, predictions from the update row, and a disagreement with
// train's reductions is warned about.
func TestGradsJoin(t *testing.T) {
	gw := []float32{1, 2, 0, 0}
	gl := []float32{0, 1, 1, 0}
	up := []float32{0.5, 0, 0, 0.25}
	// ⟨gw,gl⟩ = 2, ‖gw‖² = 5, ‖gl‖² = 2; pred_w = 0.5, pred_l = 0.
	p := probePair()
	p.Step, p.Pair, p.Dot, p.WW, p.LL, p.DW, p.DL, p.CW, p.CL = 2, 4, 2, 5, 2, 0.5, 0.25, 0.5, 0.25
	g := []runfmt.GradRow{seqRow(2, "probe", 4, "chosen", gw), seqRow(2, "probe", 4, "rejected", gl), seqRow(2, "update", -1, "update", up)}
	e, s, warns := engine(TablePairs, &Run{Label: "j", Sketch: "full"})
	if err := e.Step(&StepData{Step: 2, Pairs: []runfmt.PairRow{p}, Grads: g}); err != nil {
		t.Fatal(err)
	}
	if len(s.rows) != 2 || len(*warns) != 0 {
		t.Fatalf("rows %d warnings %q", len(s.rows), *warns)
	}
	r := s.rows[1]
	wantF(t, r, "dot", 2)
	wantF(t, r, "dw", 0.5)
	// ΔW = d_w‖g_w‖² − d_l I = 2.5 − 0.5 = 2; ΔL = d_w I − d_l‖g_l‖² = 1 − 0.5 = 0.5.
	wantF(t, r, "pred_dw_sgd", 2)
	wantF(t, r, "pred_dl_sgd", 0.5)
	wantF(t, r, "pred_w", 0.5)
	wantF(t, r, "pred_l", 0)
	wantF(t, r, "obs_w", 0.125)
	wantF(t, r, "logp_w", -5)

	// train's dot disagrees with the vectors: warned.
	p.Dot = 2.5
	e, _, warns = engine(TablePairs, &Run{Label: "j", Sketch: "full"})
	if err := e.Step(&StepData{Step: 2, Pairs: []runfmt.PairRow{p}, Grads: g}); err != nil {
		t.Fatal(err)
	}
	if len(*warns) != 1 || !strings.Contains((*warns)[0], "differ from pairs.arrows") {
		t.Errorf("warnings %q", *warns)
	}
}

// TestSketchEstimate: for sketch:K dumps the rows are labelled estimates with
// the standard error of entangle.SketchStdErr, and over many pairs the
// estimate lies within 4 standard errors of the exact value (a 4σ bound:
// failure probability about 6e-5 per pair for a near-Gaussian estimate).
func TestSketchEstimate(t *testing.T) {
	const N, K, pairs = 4096, 256, 20
	rng := rand.New(rand.NewPCG(7, 0))
	sk := entangle.NewSketch(11, K)
	var g []runfmt.GradRow
	exact := make([]float64, pairs)
	for i := 0; i < pairs; i++ {
		a, b := make([]float32, N), make([]float32, N)
		for j := range a {
			a[j] = float32(rng.NormFloat64())
			b[j] = 0.5*a[j] + float32(rng.NormFloat64())
		}
		exact[i] = entangle.Dot(a, b)
		sa, sb := make([]float32, K), make([]float32, K)
		sk.Project(sa, a)
		sk.Project(sb, b)
		g = append(g, seqRow(0, "probe", int64(i), "chosen", sa), seqRow(0, "probe", int64(i), "rejected", sb))
	}
	e, s, _ := engine(TablePairs, &Run{Label: "s", Sketch: "sketch:256"})
	if err := e.Step(&StepData{Step: 0, Grads: g}); err != nil {
		t.Fatal(err)
	}
	for i, r := range s.rows {
		se := r["dot_se"].(float64)
		if r["estimate"] != true || !(se > 0) {
			t.Fatalf("row %d: estimate %v se %v", i, r["estimate"], se)
		}
		if d := math.Abs(r["dot"].(float64) - exact[i]); d > 4*se {
			t.Errorf("pair %d: |estimate − exact| = %v > 4·SE = %v", i, d, 4*se)
		}
	}
}

// TestTokens: per-token gradients built so the cosines are known: the
// contrastive tokens are anti-parallel (cos −1), the shared suffix tokens at
// aligned positions equal (cos 1), everything else orthogonal (cos 0).
func TestTokens(t *testing.T) {
	// chosen: [pos, I, liked]; rejected: [neg, I, liked]; basis vectors e0..e3.
	e0, e1, e2 := []float32{1, 0, 0, 0}, []float32{0, 1, 0, 0}, []float32{0, 0, 2, 0}
	neg0 := []float32{-3, 0, 0, 0}
	tok := func(side string, i int32, id int32, c int8, g []float32) runfmt.GradRow {
		return runfmt.GradRow{Step: 5, Kind: "probe", Pair: 1, Side: side, Token: i, TokenID: id, Contrastive: c, Grad: g}
	}
	g := []runfmt.GradRow{
		tok("rejected", 2, 4, 0, e2), // out of order on purpose
		tok("chosen", 0, 2, 1, e0), tok("chosen", 1, 3, 0, e1), tok("chosen", 2, 4, 0, e2),
		tok("rejected", 0, 5, 1, neg0), tok("rejected", 1, 3, 0, e1),
	}
	vocab := []string{"<unk>", "<eos>", "positive", "I", "liked", "negative"}
	e, s, warns := engine(TableTokens, &Run{Label: "t", Vocab: vocab, Sketch: "full"})
	if err := e.Step(&StepData{Step: 5, Grads: g}); err != nil {
		t.Fatal(err)
	}
	if len(*warns) != 0 || len(s.rows) != 10 {
		t.Fatalf("%d rows (want 9 entries + 1 summary), warnings %q", len(s.rows), *warns)
	}
	for _, r := range s.rows[:9] {
		i, j := r["i"].(int64), r["j"].(int64)
		want := 0.0
		switch {
		case i == 0 && j == 0:
			want = -1
		case i == j:
			want = 1
		}
		if r["cos"] != want {
			t.Errorf("cos[%d][%d] = %v, want %v", i, j, r["cos"], want)
		}
		if i == 0 && j == 0 && (r["token_w"] != "positive" || r["token_l"] != "negative" || r["contrastive_w"] != true) {
			t.Errorf("entry 0,0: %v", r)
		}
	}
	sum := s.rows[9]
	wantI(t, sum, "i", -1)
	// contrastive×contrastive: (0,0) only → −1; aligned shared: (1,1), (2,2) → 1;
	// other: the 6 remaining entries, all 0.
	wantF(t, sum, "contrastive_mean", -1)
	wantI(t, sum, "contrastive_n", 1)
	wantF(t, sum, "aligned_shared_mean", 1)
	wantI(t, sum, "aligned_shared_n", 2)
	wantF(t, sum, "other_mean", 0)
	wantI(t, sum, "other_n", 6)
	wantNull(t, sum, "cos")
}

// TestWorkersDeterministic: the gradient reductions give bit-identical rows
// with 1 and 2 workers.
func TestWorkersDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 0))
	var g []runfmt.GradRow
	for i := 0; i < 9; i++ {
		for _, side := range []string{"chosen", "rejected"} {
			v := make([]float32, 3000)
			for j := range v {
				v[j] = float32(rng.NormFloat64())
			}
			g = append(g, seqRow(0, "train", int64(i), side, v))
		}
	}
	var out [2][]row
	for w := 1; w <= 2; w++ {
		s := &memSink{}
		e := NewEngine(Options{Table: TablePairs, Sink: s, Workers: w})
		e.BeginRun(&Run{Label: "d", Sketch: "full"})
		if err := e.Step(&StepData{Grads: g}); err != nil {
			t.Fatal(err)
		}
		out[w-1] = s.rows
	}
	for i := range out[0] {
		for k, v := range out[0][i] {
			if out[1][i][k] != v {
				t.Fatalf("row %d %s: %v (1 worker) vs %v (2)", i, k, v, out[1][i][k])
			}
		}
	}
}
