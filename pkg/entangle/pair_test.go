package entangle

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

func hasWarning(p PairStats, target error) bool {
	for _, w := range p.Warnings {
		if errors.Is(w, target) {
			return true
		}
	}
	return false
}

func TestPairHandWorked(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name                  string
		dot, ww, ll, dw, dl   float64
		cos, ratio, cr, rr, r float64
		deltaW, deltaL        float64
		paper, loss           Case
	}{
		// ‖g_w‖=2, ‖g_l‖=3: cos = 1/6, ρ = 3/2, 1/4, 1/9, R = 1/min(4,9) = 1/4;
		// ΔW = 4 − 1 = 3, ΔL = 1 − 9 = −8.
		{"ideal", 1, 4, 9, 1, 1, 1. / 6, 1.5, 0.25, 1. / 9, 0.25, 3, -8, CaseIdeal, CaseIdeal},
		// ‖g_w‖=1 < ‖g_l‖=2, I = 1.5: cos = 0.75, R = 1.5/1; ΔW = 1 − 1.5 = −0.5,
		// ΔL = 1.5 − 4 = −2.5: both fall (Table 1, case 2).
		{"both-fall", 1.5, 1, 4, 1, 1, 0.75, 2, 1.5, 0.375, 1.5, -0.5, -2.5, CaseBothFall, CaseBothFall},
		// Mirror: ΔW = 4 − 1.5 = 2.5, ΔL = 1.5 − 1 = 0.5: both rise (case 3).
		{"both-rise", 1.5, 4, 1, 1, 1, 0.75, 0.5, 0.375, 1.5, 1.5, 2.5, 0.5, CaseBothRise, CaseBothRise},
		// Tie I = ‖g_w‖² = 1 < ‖g_l‖² = 4: ΔW = 0 counts as "chosen does not
		// fall" (Condition 1 is ≤), so case 1; R = 1 exactly.
		{"tie-chosen", 1, 1, 4, 1, 1, 0.5, 2, 1, 0.25, 1, 0, -3, CaseIdeal, CaseIdeal},
		// Tie I = ‖g_l‖² = 1 < ‖g_w‖² = 4: ΔL = 0, case 1.
		{"tie-rejected", 1, 4, 1, 1, 1, 0.5, 0.5, 0.25, 1, 1, 3, 0, CaseIdeal, CaseIdeal},
		// Parallel, equal: I = ww = ll = 2: ΔW = ΔL = 0, cos = 1, case 1.
		{"parallel-equal", 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, CaseIdeal, CaseIdeal},
		// Just past the tie: I = 1 + 2^-52 > ww = 1 → case 2.
		{"past-tie", 1 + 0x1p-52, 1, 4, 1, 1, (1 + 0x1p-52) / 2, 2, 1 + 0x1p-52, (1 + 0x1p-52) / 4, 1 + 0x1p-52, -0x1p-52, 1 + 0x1p-52 - 4, CaseBothFall, CaseBothFall},
		// DPOP-like weights d_w = 2, d_l = 1 on the case-2 geometry:
		// ΔW = 2·1 − 1.5 = 0.5 ≥ 0, ΔL = 2·1.5 − 4 = −1 → ideal for the loss.
		{"dpop", 1.5, 1, 4, 2, 1, 0.75, 2, 1.5, 0.375, 1.5, 0.5, -1, CaseBothFall, CaseIdeal},
		// SFT (d_l = 0), I = 0.5: ΔW = 1, ΔL = 0.5 → both rise.
		{"sft-pos", 0.5, 1, 1, 1, 0, 0.5, 1, 0.5, 0.5, 0.5, 1, 0.5, CaseIdeal, CaseBothRise},
		// SFT, I = −0.5: ΔW = 1, ΔL = −0.5 → ideal.
		{"sft-neg", -0.5, 1, 1, 1, 0, -0.5, 1, -0.5, -0.5, -0.5, 1, -0.5, CaseIdeal, CaseIdeal},
		// Negative d_w (nca_pair/apo_down style): d_w = −1, d_l = 0.1, I = −0.5:
		// ΔW = −1 − 0.1·(−0.5) = −0.95, ΔL = (−1)(−0.5) − 0.1 = 0.4 → case 4.
		{"inverted", -0.5, 1, 1, -1, 0.1, -0.5, 1, -0.5, -0.5, -0.5, -0.95, 0.4, CaseIdeal, CaseInverted},
		// m' > 0 (IPO past its target): d_w = d_l = −1, I = 0.5, ww = 1, ll = 4:
		// ΔW = −1 + 0.5 = −0.5, ΔL = −0.5 + 4 = 3.5 → the margin shrinks, case 4.
		{"ipo-past-target", 0.5, 1, 4, -1, -1, 0.25, 2, 0.5, 0.125, 0.5, -0.5, 3.5, CaseIdeal, CaseInverted},
		// Zero chosen gradient: I must be 0. Ratios dividing by ww are NaN;
		// ΔW = 0, ΔL = −1 → case 1.
		{"zero-chosen", 0, 0, 1, 1, 1, nan, nan, nan, 0, nan, 0, -1, CaseIdeal, CaseIdeal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Pair(tc.dot, tc.ww, tc.ll, tc.dw, tc.dl)
			const tol = 1e-15
			check := func(name string, got, want float64) {
				if !near(got, want, tol) {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			check("Cos", p.Cos, tc.cos)
			check("NormRatio", p.NormRatio, tc.ratio)
			check("ChosenRatio", p.ChosenRatio, tc.cr)
			check("RejectedRatio", p.RejectedRatio, tc.rr)
			check("R", p.R, tc.r)
			check("DeltaW", p.DeltaW, tc.deltaW)
			check("DeltaL", p.DeltaL, tc.deltaL)
			check("DeltaMargin", p.DeltaMargin, tc.deltaW-tc.deltaL)
			check("NormW", p.NormW, math.Sqrt(tc.ww))
			check("NormL", p.NormL, math.Sqrt(tc.ll))
			if p.Case != tc.paper || p.LossCase != tc.loss {
				t.Errorf("Case, LossCase = %v, %v, want %v, %v", p.Case, p.LossCase, tc.paper, tc.loss)
			}
			wantZero := tc.ww == 0 || tc.ll == 0
			if hasWarning(p, ErrZeroNorm) != wantZero || (!wantZero && len(p.Warnings) != 0) {
				t.Errorf("Warnings = %v", p.Warnings)
			}
		})
	}
}

// TestPairCaseMatchesRatios: for d_w = d_l = 1 the sign rule equals the
// paper's inequalities on random inputs, and the loss case with k = d_w/d_l
// equals the general condition of paper §3.3 (d_w, d_l > 0).
func TestPairCaseMatchesRatios(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 0))
	for range 10000 {
		ww, ll := r.ExpFloat64(), r.ExpFloat64()
		dot := (2*r.Float64() - 1) * math.Sqrt(ww*ll)
		dw, dl := r.ExpFloat64(), r.ExpFloat64()
		p := Pair(dot, ww, ll, dw, dl)
		up, down := dot <= ww, dot <= ll
		var want Case
		switch {
		case up && down:
			want = CaseIdeal
		case !up && down:
			want = CaseBothFall
		case up && !down:
			want = CaseBothRise
		default:
			want = CaseInverted
		}
		if p.Case != want {
			t.Fatalf("Pair(%v,%v,%v) Case = %v, want %v", dot, ww, ll, p.Case, want)
		}
		if (p.R <= 1) != (p.Case == CaseIdeal) {
			t.Fatalf("R = %v but Case = %v", p.R, p.Case)
		}
		if p.Case == CaseInverted || p.LossCase == CaseInverted {
			t.Fatalf("case 4 with positive weights: %+v", p)
		}
		k := dw / dl
		// Skip the measure-zero neighbourhood of the boundary where the
		// rounding of the two formulations may differ.
		if math.Abs(dot-k*ww) < 1e-12 || math.Abs(dot-ll/k) < 1e-12 {
			continue
		}
		lup, ldown := dot < k*ww, dot < ll/k
		if (p.DeltaW >= 0) != lup || (p.DeltaL <= 0) != ldown {
			t.Fatalf("LossCase %v disagrees with the ratio form (k=%v)", p.LossCase, k)
		}
	}
}

func TestPairWarnings(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name                string
		dot, ww, ll, dw, dl float64
		want                []error
		undefined           bool
	}{
		{"nan-dot", nan, 1, 1, 1, 1, []error{ErrNaN}, true},
		{"nan-weight", 0.5, 1, 1, nan, 1, []error{ErrNaN}, true},
		{"inf-norm", 1, inf, 1, 1, 1, []error{ErrInf}, false},
		{"zero-both", 0, 0, 0, 1, 1, []error{ErrZeroNorm}, false},
		{"negative", 0, -1, 1, 1, 1, []error{ErrNegativeNorm}, false},
		// I = 3 > ‖g_w‖‖g_l‖ = 2: cos = 1.5; ΔW = 1 − 3 < 0, ΔL = 3 − 4 < 0.
		{"cauchy-schwarz", 3, 1, 4, 1, 1, []error{ErrCauchySchwarz}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Pair(tc.dot, tc.ww, tc.ll, tc.dw, tc.dl)
			for _, w := range tc.want {
				if !hasWarning(p, w) {
					t.Errorf("Warnings = %v, want %v", p.Warnings, w)
				}
			}
			if tc.undefined && p.LossCase != CaseUndefined {
				t.Errorf("LossCase = %v, want undefined", p.LossCase)
			}
		})
	}
	// Inf − Inf in ΔW gives an undefined case, not a silent NaN.
	p := Pair(math.Inf(1), math.Inf(1), 1, 1, 1)
	if p.Case != CaseUndefined || !hasWarning(p, ErrInf) {
		t.Errorf("Pair(Inf, Inf, 1) = %v, %v", p.Case, p.Warnings)
	}
}

// TestFirstOrderIdentity: with Δθ = η(d_w g_w − d_l g_l), PairStats.DeltaW·η
// equals ⟨g_w, Δθ⟩ and DeltaL·η equals ⟨g_l, Δθ⟩ (related-work §1).
func TestFirstOrderIdentity(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 0))
	const n = 5000
	for trial := range 20 {
		gw, gl := randVec(r, n), randVec(r, n)
		// Correlate g_l with g_w so all cases occur.
		c := 2*r.Float64() - 1
		for i := range gl {
			gl[i] = float32(c*float64(gw[i]) + float64(gl[i])*r.Float64())
		}
		dw, dl, eta := 2*r.Float64()-0.5, 2*r.Float64()-0.5, 1e-3
		delta := make([]float32, n)
		for i := range delta {
			delta[i] = float32(eta * (dw*float64(gw[i]) - dl*float64(gl[i])))
		}
		dot, ww, ll := DotNorms(gw, gl)
		p := Pair(dot, ww, ll, dw, dl)
		predW, predL := Predict(gw, gl, delta)
		// Δθ is rounded to float32 (relative 2^-24 per coordinate), so the
		// two sides agree to ~1e-7 of the scale Σ|g_i||Δθ_i| ≤ η(|d_w|+|d_l|)·max(ww,ll).
		scale := eta * (math.Abs(dw) + math.Abs(dl)) * math.Max(ww, ll)
		if math.Abs(p.DeltaW*eta-predW) > 1e-6*scale || math.Abs(p.DeltaL*eta-predL) > 1e-6*scale {
			t.Errorf("trial %d: η·ΔW, η·ΔL = %v, %v; ⟨g,Δθ⟩ = %v, %v", trial, p.DeltaW*eta, p.DeltaL*eta, predW, predL)
		}
		fo := FirstOrder(predW, predL, p.DeltaW*eta, p.DeltaL*eta)
		if !fo.Match || fo.RelErrW > 1e-5 || fo.RelErrL > 1e-5 {
			t.Errorf("trial %d: FirstOrder = %+v", trial, fo)
		}
	}
}

func TestRelErr(t *testing.T) {
	for _, tc := range []struct{ p, o, want float64 }{
		{0, 0, 0},
		{1, 1, 0},
		{1, 1.1, 0.1 / 1.1}, // |1.1−1|/1.1
		{2, 1, 0.5},         // |1−2|/2
		{1, 0, 1},           // one side zero
		{0, -3, 1},
		{1, -1, 2}, // opposite signs, |−1−1|/1
		{1e-300, -3e-300, 4. / 3},
	} {
		if got := RelErr(tc.p, tc.o); !near(got, tc.want, 1e-15) {
			t.Errorf("RelErr(%v, %v) = %v, want %v", tc.p, tc.o, got, tc.want)
		}
	}
	if !math.IsNaN(RelErr(math.NaN(), 1)) {
		t.Error("RelErr(NaN, 1) not NaN")
	}
}

func TestFirstOrderCases(t *testing.T) {
	// Predicted both fall (−1, −2); observed chosen slightly up (0.1, −2.2):
	// RelErrW = |0.1+1|/1 = 1.1, RelErrL = 0.2/2.2, margin: pred 1, obs 2.3,
	// 1.3/2.3; cases differ.
	c := FirstOrder(-1, -2, 0.1, -2.2)
	if c.PredCase != CaseBothFall || c.ObsCase != CaseIdeal || c.Match {
		t.Errorf("cases = %v, %v, match %v", c.PredCase, c.ObsCase, c.Match)
	}
	if !near(c.RelErrW, 1.1, 1e-15) || !near(c.RelErrL, 0.2/2.2, 1e-15) || !near(c.RelErrMargin, 1.3/2.3, 1e-15) {
		t.Errorf("rel errs = %v %v %v", c.RelErrW, c.RelErrL, c.RelErrMargin)
	}
	if c := FirstOrder(1, 1, 1.01, 0.99); c.PredCase != CaseBothRise || !c.Match {
		t.Errorf("FirstOrder(1,1,1.01,0.99) = %+v", c)
	}
	if c := FirstOrder(math.NaN(), 1, 1, 1); c.Match {
		t.Errorf("NaN prediction matched")
	}
}

func TestPairNoAlloc(t *testing.T) {
	if n := testing.AllocsPerRun(10, func() { Pair(1, 4, 9, 1, 1) }); n != 0 {
		t.Errorf("Pair allocs = %v on clean input", n)
	}
}

// TestPairExtremeScales: ‖g_w‖‖g_l‖ = √(ww·ll) stays representable even when
// ww·ll would not: ww = 1e300, ll = 1e-300 (norms 1e150, 1e-150), I = 0.5
// gives cos = 0.5; ww = ll = 1e300 with I = 0.5e300 gives cos = 0.5.
func TestPairExtremeScales(t *testing.T) {
	for _, tc := range []struct{ dot, ww, ll float64 }{{0.5, 1e300, 1e-300}, {0.5e300, 1e300, 1e300}, {0.5e-300, 1e-300, 1e-300}} {
		p := Pair(tc.dot, tc.ww, tc.ll, 1, 1)
		if math.Abs(p.Cos-0.5) > 1e-15 || len(p.Warnings) != 0 {
			t.Errorf("Pair(%g, %g, %g): Cos = %v, warnings %v", tc.dot, tc.ww, tc.ll, p.Cos, p.Warnings)
		}
	}
}
