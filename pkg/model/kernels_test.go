package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Gradient checks. Every backward kernel is compared with central differences
// of the probe loss L = Σ_i r_i·out_i (llm.c's "fakeloss"), with r random, in
// float64. The error measure is the max-norm relative error
//
//	relErr(a, n) = max_i |a_i - n_i| / max_i |n_i|
//
// over each gradient tensor, a analytic and n numeric; it must be ≤ 1e-6.
// With step h = 1e-5 the central-difference truncation error is O(h²) ≈ 1e-10
// and the rounding error about eps·|L|/h ≈ 1e-11 for |L| ~ 1, far below 1e-6.
const (
	fdStep   = 1e-5
	fdRelTol = 1e-6
)

func randVec(rng *rand.Rand, n int, scale float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = scale * rng.NormFloat64()
	}
	return x
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func relErr(a, n []float64) float64 {
	var num, den float64
	for i := range a {
		num = max(num, math.Abs(a[i]-n[i]))
		den = max(den, math.Abs(n[i]))
	}
	if den == 0 {
		return num
	}
	return num / den
}

// numGrad returns the central-difference gradient of loss with respect to x,
// perturbing x in place (and restoring it).
func numGrad(x []float64, loss func() float64) []float64 {
	g := make([]float64, len(x))
	for i := range x {
		old := x[i]
		x[i] = old + fdStep
		lp := loss()
		x[i] = old - fdStep
		lm := loss()
		x[i] = old
		g[i] = (lp - lm) / (2 * fdStep)
	}
	return g
}

// checkGrads compares each analytic gradient with the numeric one of its input.
func checkGrads(t *testing.T, loss func() float64, names []string, inputs, analytic [][]float64) {
	t.Helper()
	for k, name := range names {
		n := numGrad(inputs[k], loss)
		if e := relErr(analytic[k], n); e > fdRelTol || math.IsNaN(e) {
			t.Errorf("d%s: relErr = %.3g, want ≤ %g", name, e, fdRelTol)
		}
	}
}

func TestLayerNormGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 0))
	T, C := 4, 8
	inp, w, b := randVec(rng, T*C, 1), randVec(rng, C, 1), randVec(rng, C, 1)
	r := randVec(rng, T*C, 1)
	out, mean, rstd := make([]float64, T*C), make([]float64, T), make([]float64, T)
	loss := func() float64 { layerNormForward(out, mean, rstd, inp, w, b, T, C); return dot(r, out) }
	loss()
	dinp, dw, db := make([]float64, T*C), make([]float64, C), make([]float64, C)
	layerNormBackward(dinp, dw, db, r, inp, w, mean, rstd, T, C)
	checkGrads(t, loss, []string{"inp", "w", "b"}, [][]float64{inp, w, b}, [][]float64{dinp, dw, db})
}

func TestMatmulGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 0))
	T, C, OC := 3, 8, 12
	inp, w, b := randVec(rng, T*C, 1), randVec(rng, OC*C, 1), randVec(rng, OC, 1)
	r := randVec(rng, T*OC, 1)
	out := make([]float64, T*OC)
	for _, tc := range []struct {
		name string
		fwd  func(out, inp, w, b []float64, T, C, OC int)
		bwd  func(dinp, dw, db, dout, inp, w []float64, T, C, OC int)
	}{
		{"naive", matmulForwardNaive[float64], matmulBackwardNaive[float64]},
		{"split", matmulForward[float64], matmulBackward[float64]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loss := func() float64 { tc.fwd(out, inp, w, b, T, C, OC); return dot(r, out) }
			dinp, dw, db := make([]float64, T*C), make([]float64, OC*C), make([]float64, OC)
			tc.bwd(dinp, dw, db, r, inp, w, T, C, OC)
			checkGrads(t, loss, []string{"inp", "w", "b"}, [][]float64{inp, w, b}, [][]float64{dinp, dw, db})
		})
	}
}

func TestAttentionGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 0))
	for _, T := range []int{1, 3, 5} {
		C, H := 8, 2
		qkv := randVec(rng, T*3*C, 1)
		r := randVec(rng, T*C, 1)
		out, att := make([]float64, T*C), make([]float64, H*T*T)
		loss := func() float64 { attentionForward(out, att, qkv, T, C, H); return dot(r, out) }
		loss()
		dqkv, datt := make([]float64, T*3*C), make([]float64, H*T*T)
		attentionBackward(dqkv, datt, r, qkv, att, T, C, H)
		checkGrads(t, loss, []string{"qkv"}, [][]float64{qkv}, [][]float64{dqkv})
	}
}

func TestGeluGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 0))
	N := 40
	inp, r := randVec(rng, N, 2), randVec(rng, N, 1)
	out := make([]float64, N)
	loss := func() float64 { geluForward(out, inp, N); return dot(r, out) }
	dinp := make([]float64, N)
	geluBackward(dinp, inp, r, N)
	checkGrads(t, loss, []string{"inp"}, [][]float64{inp}, [][]float64{dinp})
	// GELU(1) with the tanh approximation, computed by hand from the formula:
	// 0.5·(1 + tanh(0.7978845608·1.044715)) = 0.8411919906.
	geluForward(out, []float64{1}, 1)
	if math.Abs(out[0]-0.8411919906) > 1e-9 {
		t.Errorf("gelu(1) = %.10f, want 0.8411919906", out[0])
	}
}

func TestLogProbGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 0))
	R, V := 4, 7
	logits, r := randVec(rng, R*V, 2), randVec(rng, R, 1)
	targets := []int32{0, 6, 3, 3}
	lp, probs := make([]float64, R), make([]float64, R*V)
	loss := func() float64 { logProbForward(lp, probs, logits, targets, R, V); return dot(r, lp) }
	loss()
	dlogits := make([]float64, R*V)
	logProbBackward(dlogits, r, probs, targets, R, V)
	checkGrads(t, loss, []string{"logits"}, [][]float64{logits}, [][]float64{dlogits})
	// the log-probs of one row normalize: Σ_v exp(lp(v)) = 1
	var s float64
	for v := 0; v < V; v++ {
		logProbForward(lp[:1], probs[:V], logits[:V], []int32{int32(v)}, 1, V)
		s += math.Exp(lp[0])
	}
	if math.Abs(s-1) > 1e-12 {
		t.Errorf("Σ_v exp(lp) = %v, want 1", s)
	}
}

func TestEncoderGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 0))
	T, C, V := 5, 8, 4
	tokens := []int32{1, 3, 1, 0, 1} // repeated tokens must accumulate
	wte, wpe := randVec(rng, V*C, 1), randVec(rng, T*C, 1)
	r := randVec(rng, T*C, 1)
	out := make([]float64, T*C)
	loss := func() float64 { encoderForward(out, tokens, wte, wpe, T, C); return dot(r, out) }
	dwte, dwpe := make([]float64, V*C), make([]float64, T*C)
	encoderBackward(dwte, dwpe, r, tokens, T, C)
	checkGrads(t, loss, []string{"wte", "wpe"}, [][]float64{wte, wpe}, [][]float64{dwte, dwpe})
}

// TestMatmulFast32 checks the float32 gonum path against the naive float32 twin,
// on shapes that cross the 64×128 tiles. Both sum C products of O(1) values in
// float32, so they may differ by rounding: the tolerance 1e-5 relative to the
// output scale is ~100 ulps, well below any indexing mistake (errors of O(1)).
func TestMatmulFast32(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 0))
	T, C, OC := 70, 33, 200
	f := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	inp, w, b, dout := f(T*C), f(OC*C), f(OC), f(T*OC)
	out1, out2 := make([]float32, T*OC), make([]float32, T*OC)
	matmulForwardNaive(out1, inp, w, b, T, C, OC)
	matmulForward(out2, inp, w, b, T, C, OC)
	cmp32(t, "out", out2, out1, 1e-5)
	matmulForward(out2, inp, w, nil, T, C, OC)
	matmulForwardNaive(out1, inp, w, nil, T, C, OC)
	cmp32(t, "out (no bias)", out2, out1, 1e-5)
	// start from nonzero gradients to check accumulation
	di1, dw1, db1 := f(T*C), f(OC*C), f(OC)
	di2, dw2, db2 := append([]float32(nil), di1...), append([]float32(nil), dw1...), append([]float32(nil), db1...)
	matmulBackwardNaive(di1, dw1, db1, dout, inp, w, T, C, OC)
	matmulBackward(di2, dw2, db2, dout, inp, w, T, C, OC)
	cmp32(t, "dinp", di2, di1, 1e-5)
	cmp32(t, "dw", dw2, dw1, 1e-5)
	cmp32(t, "db", db2, db1, 1e-5)
}

func cmp32(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	a, n := make([]float64, len(got)), make([]float64, len(want))
	for i := range got {
		a[i], n[i] = float64(got[i]), float64(want[i])
	}
	if e := relErr(a, n); e > tol {
		t.Errorf("%s: relErr = %.3g, want ≤ %g", name, e, tol)
	}
}

// TestTanh: the exp-based tanh agrees with math.Tanh to 4 ulps of 1 in
// absolute terms, over [-20, 20] (beyond, both are ±1 in float64).
func TestTanh(t *testing.T) {
	for u := -20.0; u <= 20; u += 0.001 {
		if d := math.Abs(tanh(u) - math.Tanh(u)); d > 1e-15 {
			t.Fatalf("tanh(%v) = %v, math.Tanh = %v", u, tanh(u), math.Tanh(u))
		}
	}
	if tanh(400) != 1 || tanh(-400) != -1 {
		t.Errorf("tanh(±400) = %v, %v, want ±1", tanh(400), tanh(-400))
	}
}

// TestAttentionGemm32: the float32 GEMM attention agrees with the naive loops
// (the float64 path's code run in float32) on lengths around the row block
// (attBlock = 32), for the forward from t0 = 0 and from mid-block positions,
// and the backward accumulating into nonzero dqkv. The two differ only in
// rounding (fused multiply-adds, scale after the dot), so a relative max-norm
// error of 1e-5 (≈ 80 float32 ulps) bounds them; with ForwardReuse's rows the
// results from t0 > 0 must equal the t0 = 0 rows bit for bit.
func TestAttentionGemm32(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 0))
	f := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	for _, T := range []int{1, 5, 31, 32, 33, 64, 70} {
		for _, ch := range [][2]int{{8, 2}, {96, 3}} {
			C, H := ch[0], ch[1]
			qkv, dout := f(T*3*C), f(T*C)
			out1, att1 := make([]float32, T*C), make([]float32, H*T*T)
			out2, att2 := make([]float32, T*C), make([]float32, H*T*T)
			attentionForwardNaive(out1, att1, qkv, T, C, H, 0, 0, H)
			attentionForwardHeads(out2, att2, qkv, T, C, H, 0, 0, H)
			cmp32(t, "out", out2, out1, 1e-5)
			cmp32(t, "att", att2, att1, 1e-5)
			for _, t0 := range []int{1, T / 2, T - 1} {
				out3, att3 := f(T*C), f(H*T*T)
				copy(out3[:t0*C], out2[:t0*C])
				for h := range H {
					copy(att3[h*T*T:h*T*T+t0*T], att2[h*T*T:])
				}
				attentionForwardHeads(out3, att3, qkv, T, C, H, t0, 0, H)
				for i := range out3 {
					if math.Float32bits(out3[i]) != math.Float32bits(out2[i]) {
						t.Fatalf("T=%d C=%d t0=%d: out[%d] = %v, want %v from t0=0", T, C, t0, i, out3[i], out2[i])
					}
				}
			}
			dq1, dq2 := f(T*3*C), make([]float32, T*3*C)
			copy(dq2, dq1)
			datt := f(H * T * T) // garbage scratch must not matter
			attentionBackwardNaive(dq1, datt, dout, qkv, att1, T, C, H, 0, H)
			attentionBackwardHeads(dq2, f(H*T*T), dout, qkv, att2, T, C, H, 0, H)
			cmp32(t, "dqkv", dq2, dq1, 1e-5)
		}
	}
}

// TestSum4Dot4: sum4 and dot4 add in the documented order (lane s mod 4 in
// increasing s, then (l0+l1)+(l2+l3)), bit for bit, for every length 0..40.
func TestSum4Dot4(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for n := 0; n <= 40; n++ {
		x, y := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], y[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		var ls, ld [4]float32
		for s := range x {
			ls[s%4] += x[s]
			ld[s%4] += float32(x[s] * y[s])
		}
		if got, want := sum4(x), (ls[0]+ls[1])+(ls[2]+ls[3]); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("n=%d: sum4 = %v, want %v", n, got, want)
		}
		if got, want := dot4(x, y), (ld[0]+ld[1])+(ld[2]+ld[3]); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("n=%d: dot4 = %v, want %v", n, got, want)
		}
	}
}
