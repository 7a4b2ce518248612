package loss

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats"
)

// TestNormalized checks the first-order guarantee of the pairwise normalized
// update on random float64 gradients with every kind of cosine: with
// (cw, cl) = Normalized(r, ‖g_w‖, ‖g_l‖),
//
//	Δz_w = cw‖g_w‖² − cl⟨g_w,g_l⟩ ≥ 0    Δz_l = cw⟨g_w,g_l⟩ − cl‖g_l‖² ≤ 0
//
// up to rounding (tolerance 1e-12·w·(‖g_w‖ + ‖g_l‖), far above float64
// error for 8-dimensional dots and far below any real violation), and both
// equal their closed forms ±w‖g‖(1 − cos). It also checks that the same
// vectors do make the loss's own weights fail Condition 1 sometimes, so the
// guarantee is not vacuous.
func TestNormalized(t *testing.T) {
	const dim = 8
	rng := rand.New(rand.NewPCG(4, 0))
	names := Names()
	randVec := func(scale float64) []float64 {
		v := make([]float64, dim)
		for i := range v {
			v[i] = scale * rng.NormFloat64()
		}
		return v
	}
	var rawViolations, n int
	for trial := 0; trial < 20000; trial++ {
		// Gradients: g_l = a·g_w + t·noise covers cos = ±1 exactly (t = 0),
		// nearly parallel (t small), and generic; norms span 4 decades.
		gw := randVec(math.Pow(10, rng.Float64()*4-2))
		a := rng.Float64()*6 - 3
		tnoise := []float64{0, 1e-6, 0.1, 1, 10}[rng.IntN(5)]
		gl := make([]float64, dim)
		floats.AddScaledTo(gl, randVec(tnoise*floats.Norm(gw, 2)), a, gw)
		switch trial % 50 {
		case 0:
			gw = make([]float64, dim) // zero chosen gradient
		case 1:
			gl = make([]float64, dim) // zero rejected gradient
		}
		// Weights: a real loss at a random pair (some have negative weights).
		l := mustNew(t, names[rng.IntN(len(names))], nil)
		r := l.Eval(randomPair(rng))

		nw, nl := floats.Norm(gw, 2), floats.Norm(gl, 2)
		dot := floats.Dot(gw, gl)
		cw, cl := Normalized(r, nw, nl)
		w := math.Max(0, (r.DW+r.DL)/2)
		dzw := cw*nw*nw - cl*dot
		dzl := cw*dot - cl*nl*nl
		tol := 1e-12 * w * (nw + nl)
		if dzw < -tol || dzl > tol {
			t.Fatalf("trial %d (%s, %+v): Δz_w = %g, Δz_l = %g, want ≥ 0 and ≤ 0", trial, l.Name(), r, dzw, dzl)
		}
		if nw > 0 && nl > 0 {
			n++
			cos := dot / (nw * nl)
			if math.Abs(dzw-w*nw*(1-cos)) > 1e-10*w*(nw+nl) || math.Abs(dzl+w*nl*(1-cos)) > 1e-10*w*(nw+nl) {
				t.Fatalf("trial %d: Δz = %g, %g, want %g, %g", trial, dzw, dzl, w*nw*(1-cos), -w*nl*(1-cos))
			}
			if r.DW > 0 && r.DL > 0 {
				// The loss's own step: chosen falls or rejected rises?
				if r.DW*nw*nw-r.DL*dot < -tol || r.DW*dot-r.DL*nl*nl > tol {
					rawViolations++
				}
			}
		} else if (nw == 0 && cw != 0) || (nl == 0 && cl != 0) {
			t.Fatalf("trial %d: zero norm gave coefficient cw, cl = %v, %v, want 0", trial, cw, cl)
		}
	}
	if rawViolations == 0 || n == 0 {
		t.Errorf("raw weights violated Condition 1 in %d of %d trials, want > 0 (test vectors too easy)", rawViolations, n)
	}
}

// TestNormalizedWeight checks the weight by hand.
func TestNormalizedWeight(t *testing.T) {
	for _, tc := range []struct {
		r            Result
		nw, nl       float64
		wantW, wantL float64
	}{
		// w = (0.3 + 0.1)/2 = 0.2: cw = 0.2/2 = 0.1, cl = 0.2/4 = 0.05.
		{Result{DW: 0.3, DL: 0.1}, 2, 4, 0.1, 0.05},
		// w = max(0, (−1 + 0.5)/2) = 0: no update.
		{Result{DW: -1, DL: 0.5}, 2, 4, 0, 0},
		// Zero rejected norm: cl = 0.
		{Result{DW: 1, DL: 1}, 0.5, 0, 2, 0},
	} {
		cw, cl := Normalized(tc.r, tc.nw, tc.nl)
		if cw != tc.wantW || cl != tc.wantL {
			t.Errorf("Normalized(%+v, %v, %v) = %v, %v, want %v, %v", tc.r, tc.nw, tc.nl, cw, cl, tc.wantW, tc.wantL)
		}
	}
}
