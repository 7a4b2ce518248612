package entangle

import (
	"math"
	"math/rand/v2"
	"testing"
)

func softmax(z []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, v)
	}
	p := make([]float64, len(z))
	var s float64
	for i, v := range z {
		p[i] = math.Exp(v - m)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

// lastLayerGrad returns vec((e_a − p) hᵀ) (V, D) as float32: the gradient of
// log softmax(W h)_a with respect to W (paper §4.1, last-layer-only model).
func lastLayerGrad(p, h []float64, a int) []float32 {
	g := make([]float32, len(p)*len(h))
	for v := range p {
		e := -p[v]
		if v == a {
			e += 1
		}
		for d, hd := range h {
			g[v*len(h)+d] = float32(e * hd)
		}
	}
	return g
}

// TestLastLayerClosedForm checks paper §4.1 end to end: for random logits and
// features, ⟨g_a,g_b⟩ = ‖h‖²(‖p‖² − p_a − p_b), ‖g_a‖² = ‖h‖²(1 − 2p_a + ‖p‖²),
// and Condition 1 (Case 1) always holds. Some trials make a third token
// dominant so the inner product is positive and the case check is not
// trivially satisfied by I ≤ 0.
func TestLastLayerClosedForm(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 0))
	const V, D = 50, 64
	positive := 0
	for trial := range 200 {
		z := make([]float64, V)
		for i := range z {
			z[i] = 2 * r.NormFloat64()
		}
		a, b := 0, 1
		if trial%2 == 0 {
			z[2] += 8 // token 2 dominates: p_a + p_b < ‖p‖² likely
		}
		p := softmax(z)
		h := make([]float64, D)
		var hh, pp float64
		for i := range h {
			h[i] = r.NormFloat64()
			hh += h[i] * h[i]
		}
		for _, v := range p {
			pp += v * v
		}
		ga, gb := lastLayerGrad(p, h, a), lastLayerGrad(p, h, b)
		dot, aa, bb := DotNorms(ga, gb)
		wantDot := hh * (pp - p[a] - p[b])
		wantAA := hh * (1 - 2*p[a] + pp)
		wantBB := hh * (1 - 2*p[b] + pp)
		// The float32 storage of g (relative 2^-24 per entry) bounds the
		// error by ~2·2^-24 of Σ|g_a||g_b| ≤ √(aa·bb); 1e-6 is safe.
		tol := 1e-6 * math.Sqrt(wantAA*wantBB)
		if math.Abs(dot-wantDot) > tol || math.Abs(aa-wantAA) > tol || math.Abs(bb-wantBB) > tol {
			t.Fatalf("trial %d: (dot, aa, bb) = (%v, %v, %v), want (%v, %v, %v)", trial, dot, aa, bb, wantDot, wantAA, wantBB)
		}
		ps := Pair(dot, aa, bb, 1, 1)
		if ps.Case != CaseIdeal {
			t.Fatalf("trial %d: Case = %v, want ideal (R = %v)", trial, ps.Case, ps.R)
		}
		wantCos := (pp - p[a] - p[b]) / math.Sqrt((1-2*p[a]+pp)*(1-2*p[b]+pp))
		if math.Abs(ps.Cos-wantCos) > 1e-6 {
			t.Fatalf("trial %d: cos = %v, want %v", trial, ps.Cos, wantCos)
		}
		if dot > 0 {
			positive++
		}
	}
	if positive == 0 {
		t.Fatal("no trial had a positive inner product; the Case 1 check is vacuous")
	}
}

// TestTwoTokenAntiParallel: if p puts all its mass on {a, b}, then
// g_a = Jᵀ(e_a − p) = (1−q)Jᵀ(e_a−e_b) and g_b = −qJᵀ(e_a−e_b) for any J,
// so cos = −1 (paper §4.1).
func TestTwoTokenAntiParallel(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 0))
	const V, P = 20, 300
	for trial := range 50 {
		J := make([]float64, V*P) // (V, P), a random logit Jacobian
		for i := range J {
			J[i] = r.NormFloat64()
		}
		a, b := r.IntN(V), r.IntN(V-1)
		if b >= a {
			b++
		}
		q := r.Float64()
		p := make([]float64, V)
		p[a], p[b] = q, 1-q
		grad := func(tok int) []float32 {
			g := make([]float32, P)
			for j := range P {
				var s float64
				for v := range V {
					e := -p[v]
					if v == tok {
						e += 1
					}
					s += J[v*P+j] * e
				}
				g[j] = float32(s)
			}
			return g
		}
		dot, aa, bb := DotNorms(grad(a), grad(b))
		ps := Pair(dot, aa, bb, 1, 1)
		// Rounding g to float32 tilts each vector by an angle θ ≲ 2^-24, and
		// 1 + cos(π − θ) ≈ θ²/2, far below the 1e-10 bound used here.
		if math.Abs(ps.Cos+1) > 1e-10 {
			t.Errorf("trial %d: q=%v cos = %v, want −1", trial, q, ps.Cos)
		}
	}
}

// logSoftmaxAt returns log softmax(W h)_a for W (V, D) stored row-major.
func logSoftmaxAt(W, h []float64, a int) float64 {
	V, D := len(W)/len(h), len(h)
	z := make([]float64, V)
	for v := range V {
		for d := range D {
			z[v] += W[v*D+d] * h[d]
		}
	}
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, v)
	}
	var s float64
	for _, v := range z {
		s += math.Exp(v - m)
	}
	return z[a] - m - math.Log(s)
}

// TestFirstOrderTaylor: on the last-layer softmax model, take a real DPO-like
// step Δθ = η(g_w − g_l) and compare Predict with the exact change of the
// log-probs. The Taylor remainder is O(η²), so RelErr = O(η): halving η must
// roughly halve it (ratio in [1.6, 2.4]) and the sign pattern must match.
func TestFirstOrderTaylor(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 0))
	const V, D = 10, 8
	W := make([]float64, V*D)
	h := make([]float64, D)
	for i := range W {
		W[i] = r.NormFloat64()
	}
	for i := range h {
		h[i] = r.NormFloat64()
	}
	z := make([]float64, V)
	for v := range V {
		for d := range D {
			z[v] += W[v*D+d] * h[d]
		}
	}
	p := softmax(z)
	a, b := 3, 7
	gw, gl := lastLayerGrad(p, h, a), lastLayerGrad(p, h, b)
	relErr := func(eta float64) FirstOrderCheck {
		delta := make([]float32, V*D)
		W2 := make([]float64, V*D)
		for i := range delta {
			delta[i] = float32(eta * (float64(gw[i]) - float64(gl[i])))
			W2[i] = W[i] + float64(delta[i])
		}
		predW, predL := Predict(gw, gl, delta)
		obsW := logSoftmaxAt(W2, h, a) - logSoftmaxAt(W, h, a)
		obsL := logSoftmaxAt(W2, h, b) - logSoftmaxAt(W, h, b)
		return FirstOrder(predW, predL, obsW, obsL)
	}
	c1, c2 := relErr(1e-2), relErr(5e-3)
	t.Logf("η=1e-2: %+v\nη=5e-3: %+v", c1, c2)
	for _, c := range []FirstOrderCheck{c1, c2} {
		if !c.Match || c.PredCase != CaseIdeal || c.RelErrW > 0.1 || c.RelErrL > 0.1 {
			t.Errorf("FirstOrder = %+v", c)
		}
		// Same context: log p_a − log p_b = (W_a − W_b)·h is linear in W, so
		// the margin's first-order prediction is exact up to the float32
		// rounding of g and Δθ (~1e-7).
		if c.RelErrMargin > 1e-6 {
			t.Errorf("RelErrMargin = %v, want ≈ 0 (margin is linear)", c.RelErrMargin)
		}
	}
	for name, q := range map[string]float64{"W": c1.RelErrW / c2.RelErrW, "L": c1.RelErrL / c2.RelErrL} {
		if q < 1.6 || q > 2.4 {
			t.Errorf("RelErr%s(η)/RelErr%s(η/2) = %v, want ≈ 2", name, name, q)
		}
	}
}
