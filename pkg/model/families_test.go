package model

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"entangle/internal/gemm"
)

// Gradient checks of the kernels of the GPT-NeoX and Llama blocks, in the
// style and tolerance of kernels_test.go, and whole-model checks per family.

func TestRMSNormGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 0))
	T, C := 4, 8
	inp, w := randVec(rng, T*C, 1), randVec(rng, C, 1)
	r := randVec(rng, T*C, 1)
	out, rstd := make([]float64, T*C), make([]float64, T)
	loss := func() float64 { rmsNormForward(out, rstd, inp, w, T, C, 1e-6); return dot(r, out) }
	loss()
	dinp, dw := make([]float64, T*C), make([]float64, C)
	rmsNormBackward(dinp, dw, r, inp, w, rstd, T, C)
	checkGrads(t, loss, []string{"inp", "w"}, [][]float64{inp, w}, [][]float64{dinp, dw})
	// by hand: x = (3, 4), w = 1, eps = 0: rms = sqrt(12.5), out = x/rms
	rmsNormForward(out[:2], rstd[:1], []float64{3, 4}, []float64{1, 1}, 1, 2, 0)
	if math.Abs(out[0]-3/math.Sqrt(12.5)) > 1e-15 || math.Abs(out[1]-4/math.Sqrt(12.5)) > 1e-15 {
		t.Errorf("rmsnorm(3, 4) = %v, want (3, 4)/√12.5", out[:2])
	}
}

func TestRopeGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 0))
	// rows of width W = 3 heads of hs = 6 after an offset of 2; rotate 2·D2 = 4 dims of each head
	T, W, off, nh, hs, D2 := 5, 2+3*6+1, 2, 3, 6, 2
	cfg := Config{V: 4, T: 8, C: 12, L: 1, H: 2, Arch: ArchNeoX, Rotary: 4, RopeTheta: 100}
	inv := ropeInvFreq(cfg)
	if len(inv) != D2 || inv[0] != 1 || math.Abs(inv[1]-0.1) > 1e-16 {
		t.Fatalf("inv freq %v, want [1 0.1] (θ^(-2i/D), θ = 100, D = 4)", inv)
	}
	cos, sin := make([]float64, T*D2), make([]float64, T*D2)
	ropeTables(cos, sin, inv, T)
	x0 := randVec(rng, T*W, 1)
	r := randVec(rng, T*W, 1)
	x := make([]float64, len(x0))
	loss := func() float64 { copy(x, x0); ropeForward(x, cos, sin, 0, T, W, off, nh, hs, D2); return dot(r, x) }
	loss()
	dx := append([]float64(nil), r...)
	ropeBackward(dx, cos, sin, 0, T, W, off, nh, hs, D2)
	checkGrads(t, loss, []string{"x"}, [][]float64{x0}, [][]float64{dx})
	// a rotation: each pair keeps its norm; position 0 is the identity;
	// columns outside the rotated dims pass through
	for i := range W {
		if x[i] != x0[i] {
			t.Fatalf("position 0 changed column %d", i)
		}
	}
	tt, j := 3, off+hs // head 1 at t = 3, pair (0, 2)
	a, b := x[tt*W+j], x[tt*W+j+D2]
	a0, b0 := x0[tt*W+j], x0[tt*W+j+D2]
	if math.Abs(a-(a0*math.Cos(3)-b0*math.Sin(3))) > 1e-15 || math.Abs(b-(b0*math.Cos(3)+a0*math.Sin(3))) > 1e-15 {
		t.Errorf("pair at t=3: (%v, %v), want the turn by 3 rad of (%v, %v)", a, b, a0, b0)
	}
	if x[tt*W+off+4] != x0[tt*W+off+4] || x[tt*W+off+5] != x0[tt*W+off+5] || x[tt*W+1] != x0[tt*W+1] {
		t.Errorf("unrotated columns changed")
	}
}

// TestRopeLlama3 checks the Llama-3 frequency scaling on hand-worked
// values: N = 16, lo = 1, hi = 4 (wavelengths above 16 slowed by s = 8,
// below 4 kept, between blended).
func TestRopeLlama3(t *testing.T) {
	cfg := Config{V: 4, T: 8, C: 16, L: 1, H: 1, Arch: ArchLlama, RopeTheta: 10000,
		RopeFactor: 8, RopeLowFreq: 1, RopeHighFreq: 4, RopeOrigCtx: 16}
	got := ropeInvFreq(cfg)
	for i := range got {
		f0 := math.Pow(10000, -float64(2*i)/16)
		lam := 2 * math.Pi / f0
		var want float64
		switch {
		case lam < 4:
			want = f0
		case lam > 16:
			want = f0 / 8
		default:
			a := (16/lam - 1) / 3
			want = (1-a)*f0/8 + a*f0
		}
		if math.Abs(got[i]-want) > 1e-15*want {
			t.Errorf("f_%d = %v, want %v", i, got[i], want)
		}
	}
	// f_0 = 1 (λ = 2π ≈ 6.28: blended, a = (16/2π - 1)/3), f_7 = 10000^(-7/8) (λ ≈ 19869: slowed)
	a := (16/(2*math.Pi) - 1) / 3
	if w := (1-a)/8 + a; math.Abs(got[0]-w) > 1e-15 {
		t.Errorf("f_0 = %v, want %v", got[0], w)
	}
}

func TestSwiGLUGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 0))
	T, F := 3, 5
	inp, r := randVec(rng, T*2*F, 2), randVec(rng, T*F, 1)
	out := make([]float64, T*F)
	loss := func() float64 { swigluForward(out, inp, T, F); return dot(r, out) }
	dinp := make([]float64, T*2*F)
	swigluBackward(dinp, inp, r, T, F)
	checkGrads(t, loss, []string{"inp"}, [][]float64{inp}, [][]float64{dinp})
	// silu(1)·2 = 2/(1+e⁻¹) = 1.4621171572600098
	swigluForward(out[:1], []float64{1, 2}, 1, 1)
	if math.Abs(out[0]-1.4621171572600098) > 1e-15 {
		t.Errorf("silu(1)·2 = %v, want 1.4621171572600098", out[0])
	}
}

// TestSwiGLU32: the float32 kernels (swiglu32, swigluGrad32, on gemm's
// exponential) against the float64 formulas: within a few float32 ulps of
// the value's scale over gates from -200 to 200 (no NaN where exp
// overflows), the same bits whatever the rows and chunks (a row at a time,
// widths across the 256-element chunk), and the model's float32 kernels
// use them where gemm has SIMD exponentials.
func TestSwiGLU32(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 0))
	T, F := 3, 300
	in64 := make([]float64, T*2*F)
	gates := []float64{-200, -104, -89, -88.7, -50, -17, -1e-3, -1e-30, 0, 1e-30, 1e-3, 0.5, 3, 17, 50, 88.7, 89, 104, 200}
	for i := range in64 {
		in64[i] = 4 * rng.NormFloat64()
		if c := i % (2 * F); c < F && c < len(gates) {
			in64[i] = gates[c]
		}
	}
	in32 := make([]float32, len(in64))
	for i, v := range in64 {
		in32[i] = float32(v)
		in64[i] = float64(in32[i])
	}
	d64, d32 := randVec(rng, T*F, 1), make([]float32, T*F)
	for i, v := range d64 {
		d32[i] = float32(v)
		d64[i] = float64(d32[i])
	}
	out64, out32 := make([]float64, T*F), make([]float32, T*F)
	swigluForward(out64, in64, T, F)
	swiglu32(out32, in32, T, F)
	g64, g32 := make([]float64, T*2*F), make([]float32, T*2*F)
	swigluBackward(g64, in64, d64, T, F)
	swigluGrad32(g32, in32, d32, T, F)
	// tolerance: a few float32 ulps of the terms' scale (1 + g·(1-σ) cancels near g = -1.28)
	near := func(what string, i int, got float32, want, scale float64) {
		if math.IsNaN(float64(got)) || math.Abs(float64(got)-want) > 6e-7*scale+1e-30 {
			t.Fatalf("%s[%d] = %v, float64 %v (scale %v)", what, i, got, want, scale)
		}
	}
	for r := 0; r < T; r++ {
		for i := 0; i < F; i++ {
			g, u, d := in64[r*2*F+i], in64[r*2*F+F+i], d64[r*F+i]
			sg := 1 / (1 + math.Exp(-g))
			near("out", r*F+i, out32[r*F+i], out64[r*F+i], math.Abs(g*sg*u))
			near("dgate", r*F+i, g32[r*2*F+i], g64[r*2*F+i], math.Abs(d*u*sg)*(1+math.Abs(g)*(1-sg)))
			near("dup", r*F+i, g32[r*2*F+F+i], g64[r*2*F+F+i], math.Abs(d*g*sg))
		}
	}
	// a row at a time, and the full rows in one call: the same bits
	for r := 0; r < T; r++ {
		o := make([]float32, F)
		swiglu32(o, in32[r*2*F:(r+1)*2*F], 1, F)
		g := make([]float32, 2*F)
		swigluGrad32(g, in32[r*2*F:(r+1)*2*F], d32[r*F:(r+1)*F], 1, F)
		if !slices.Equal(o, out32[r*F:(r+1)*F]) || !slices.Equal(g, g32[r*2*F:(r+1)*2*F]) {
			t.Fatalf("row %d: bits differ when computed alone", r)
		}
	}
	if gemm.ElementwiseSIMD() {
		o := make([]float32, T*F)
		swigluForward(o, in32, T, F)
		if !slices.Equal(o, out32) {
			t.Error("swigluForward[float32] does not run swiglu32")
		}
	}
}

// TestGeluErf32: the float32 exact GELU and its derivative (geluErf32, on
// gemm's exponential) against the float64 formulas (math.Erf) over x from
// -30 to 30: the forward within 3e-6 of the value (relative: for x < 0 the
// value is x·erfc/2, computed without cancellation; plus the float32
// conditioning of exp(-x²/2) far out), the derivative within as much of its
// terms' scale Φ + |x|·φ; the same bits in one call or in
// pieces across the 256-element chunks; the model's float32 kernels use it
// where gemm has SIMD exponentials.
func TestGeluErf32(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 0))
	var xs []float32
	for x := -30.0; x <= 30; x += 0.01 {
		xs = append(xs, float32(x))
	}
	for range 2000 {
		xs = append(xs, float32(3*rng.NormFloat64()))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 100, -100, 1e6, -1e6)
	N := len(xs)
	ds := make([]float32, N)
	for i := range ds {
		ds[i] = float32(rng.NormFloat64())
	}
	out, din := make([]float32, N), make([]float32, N)
	geluErf32(out, xs, nil)
	geluErf32(din, xs, ds)
	var worstF, worstB float64
	for i, x32 := range xs {
		x := float64(x32)
		phi := 0.5 * math.Erfc(-x/math.Sqrt2)
		want := x * phi
		if e := math.Abs(float64(out[i])-want) / math.Max(math.Abs(want), 1e-300); want != 0 && math.Abs(x) < 5 && e > worstF {
			worstF = e
		}
		// exp(-z²) in float32 is only as good as z² = x²/2 rounded: a relative z²·2⁻²⁴ for x < 0
		cond := 3e-6 + 2.4e-7*x*x/2
		if math.IsNaN(float64(out[i])) || math.Abs(float64(out[i])-want) > cond*math.Abs(want)+1e-37 {
			t.Fatalf("gelu(%v) = %v, float64 %v", x, out[i], want)
		}
		dens := math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi)
		g := (phi + x*dens) * float64(ds[i])
		scale := (phi + math.Abs(x)*dens) * math.Abs(float64(ds[i]))
		if e := math.Abs(float64(din[i])-g) / scale; scale > 0 && math.Abs(x) < 5 && e > worstB {
			worstB = e
		}
		if math.IsNaN(float64(din[i])) || math.Abs(float64(din[i])-g) > cond*scale+1e-37 {
			t.Fatalf("gelu'(%v)·%v = %v, float64 %v", x, ds[i], din[i], g)
		}
	}
	t.Logf("worst relative error: forward %.2g (|x| < 5), backward %.2g (of the terms' scale)", worstF, worstB)
	// in pieces: the same bits
	o2, d2 := make([]float32, N), make([]float32, N)
	for lo := 0; lo < N; {
		hi := min(N, lo+1+rng.IntN(600))
		geluErf32(o2[lo:hi], xs[lo:hi], nil)
		geluErf32(d2[lo:hi], xs[lo:hi], ds[lo:hi])
		lo = hi
	}
	if !slices.Equal(o2, out) || !slices.Equal(d2, din) {
		t.Error("bits differ when computed in pieces")
	}
	if gemm.ElementwiseSIMD() {
		o := make([]float32, N)
		geluErfForward(o, xs, N)
		if !slices.Equal(o, out) {
			t.Error("geluErfForward[float32] does not run geluErf32")
		}
	}
}

func TestGeluErfGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 0))
	N := 40
	inp, r := randVec(rng, N, 2), randVec(rng, N, 1)
	out := make([]float64, N)
	loss := func() float64 { geluErfForward(out, inp, N); return dot(r, out) }
	dinp := make([]float64, N)
	geluErfBackward(dinp, inp, r, N)
	checkGrads(t, loss, []string{"inp"}, [][]float64{inp}, [][]float64{dinp})
	// GELU(1) = Φ(1) = 0.5·(1 + erf(1/√2)) = 0.8413447460685429 (the normal CDF at 1)
	geluErfForward(out, []float64{1}, 1)
	if math.Abs(out[0]-0.8413447460685429) > 1e-15 {
		t.Errorf("gelu(1) = %.16f, want 0.8413447460685429", out[0])
	}
}

func TestGQAGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 0))
	for _, hk := range [][2]int{{4, 2}, {4, 1}, {3, 3}} {
		H, KV, hs := hk[0], hk[1], 3
		for _, T := range []int{1, 3, 5} {
			Q3 := (H + 2*KV) * hs
			qkv := randVec(rng, T*Q3, 1)
			r := randVec(rng, T*H*hs, 1)
			out, att := make([]float64, T*H*hs), make([]float64, H*T*T)
			loss := func() float64 { gqaForwardNaive(out, att, qkv, T, H, KV, hs, 0, 0, H); return dot(r, out) }
			loss()
			dqkv, datt := make([]float64, T*Q3), make([]float64, H*T*T)
			gqaBackwardNaive(dqkv, datt, r, qkv, att, T, H, KV, hs, 0, H)
			checkGrads(t, loss, []string{"qkv"}, [][]float64{qkv}, [][]float64{dqkv})
		}
	}
	// KV = 1 with every key/value equal to head 0's of an MHA input gives MHA's output
	T, H, hs := 4, 2, 3
	C := H * hs
	mha := randVec(rng, T*3*C, 1)
	for t := range T { // head 1's k and v := head 0's
		copy(mha[t*3*C+C+hs:t*3*C+2*C], mha[t*3*C+C:t*3*C+C+hs])
		copy(mha[t*3*C+2*C+hs:t*3*C+3*C], mha[t*3*C+2*C:t*3*C+2*C+hs])
	}
	gqa := make([]float64, T*(H+2)*hs)
	for t := range T {
		copy(gqa[t*(H+2)*hs:], mha[t*3*C:t*3*C+C+hs])
		copy(gqa[t*(H+2)*hs+C+hs:], mha[t*3*C+2*C:t*3*C+2*C+hs])
	}
	o1, o2, a := make([]float64, T*C), make([]float64, T*C), make([]float64, H*T*T)
	attentionForward(o1, a, mha, T, C, H)
	gqaForwardNaive(o2, a, gqa, T, H, 1, hs, 0, 0, H)
	if e := relErr(o2, o1); e > 1e-15 {
		t.Errorf("GQA with one shared head vs MHA with equal heads: relErr %.3g", e)
	}
}

// TestGQAGemm32: the float32 GEMM attention with grouped heads agrees with
// the naive loops (same tolerance as TestAttentionGemm32).
func TestGQAGemm32(t *testing.T) {
	rng := rand.New(rand.NewPCG(26, 0))
	f := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	for _, T := range []int{1, 33, 70} {
		H, KV, hs := 6, 2, 8
		Q3, C := (H+2*KV)*hs, H*hs
		qkv, dout := f(T*Q3), f(T*C)
		out1, att1 := make([]float32, T*C), make([]float32, H*T*T)
		out2, att2 := make([]float32, T*C), make([]float32, H*T*T)
		gqaForwardNaive(out1, att1, qkv, T, H, KV, hs, 0, 0, H)
		gqaForwardHeads(out2, att2, qkv, T, H, KV, hs, 0, 0, H)
		cmp32(t, "out", out2, out1, 1e-5)
		dq1, dq2 := f(T*Q3), make([]float32, T*Q3)
		copy(dq2, dq1)
		gqaBackwardNaive(dq1, f(H*T*T), dout, qkv, att1, T, H, KV, hs, 0, H)
		gqaBackwardHeads(dq2, f(H*T*T), dout, qkv, att2, T, H, KV, hs, 0, H)
		cmp32(t, "dqkv", dq2, dq1, 1e-5)
	}
}

// familyCfgs are small configs of every block kind and setting.
func familyCfgs() map[string]Config {
	return map[string]Config{
		"neox-parallel":   {V: 11, T: 6, C: 8, L: 2, H: 2, Arch: ArchNeoX, Rotary: 2, FF: 12, Eps: 1e-5},
		"neox-sequential": {V: 11, T: 6, C: 8, L: 2, H: 2, Arch: ArchNeoX, Rotary: 4, Sequential: true, Tied: true},
		"llama-gqa-tied":  {V: 11, T: 6, C: 16, L: 2, H: 4, KV: 2, Arch: ArchLlama, FF: 10, Eps: 1e-6, RopeTheta: 100, Tied: true},
		"llama-mqa-bias":  {V: 11, T: 6, C: 8, L: 2, H: 2, KV: 1, Arch: ArchLlama, QKVBias: true, ProjBias: true, MLPBias: true},
		"llama3-rope":     {V: 11, T: 6, C: 8, L: 1, H: 1, Arch: ArchLlama, RopeTheta: 500000, RopeFactor: 8, RopeLowFreq: 1, RopeHighFreq: 4, RopeOrigCtx: 8},
	}
}

// TestFamilyModelGrad is TestModelGrad for every block kind: ∇θ Σ_j r_j·lp_j
// against central differences on every tensor's first element and random
// ones, float64, same tolerance; every tensor gets a nonzero gradient. The
// neox-parallel case checks the parallel residual as a whole block.
func TestFamilyModelGrad(t *testing.T) {
	for name, cfg := range familyCfgs() {
		t.Run(name, func(t *testing.T) {
			m := randomModel(cfg, 11)
			rng := rand.New(rand.NewPCG(12, 0))
			s := randSeq(rng, cfg.V, 6, 2)
			s.Tokens[1], s.Tokens[4] = 3, 3
			ws := m.NewWorkspace()
			r := randVec(rng, len(s.Tokens)-s.RespStart, 1)
			loss := func() float64 { return dot(r, ws.Forward(s.Tokens, s.RespStart)) }
			loss()
			grad := make([]float64, len(m.Params))
			ws.Backward(grad, r)
			var idx []int
			for _, x := range Tensors(cfg) {
				idx = append(idx, x.Offset, x.Offset+rng.IntN(x.Size), x.Offset+x.Size-1)
			}
			for len(idx) < 80 {
				idx = append(idx, rng.IntN(len(m.Params)))
			}
			a, n := make([]float64, len(idx)), make([]float64, len(idx))
			for k, i := range idx {
				a[k] = grad[i]
				old := m.Params[i]
				m.Params[i] = old + fdStep
				lp := loss()
				m.Params[i] = old - fdStep
				lm := loss()
				m.Params[i] = old
				n[k] = (lp - lm) / (2 * fdStep)
			}
			if e := relErr(a, n); e > fdRelTol {
				t.Errorf("relErr = %.3g, want ≤ %g", e, fdRelTol)
			}
			for _, x := range Tensors(cfg) {
				if slices.Max(absAll(grad[x.Offset:x.Offset+x.Size])) == 0 {
					t.Errorf("%s has an all-zero gradient", x.Name)
				}
			}
		})
	}
}

// TestParamCount: the float64 formula is NumParams and NumTensors is the
// table's length for every block kind (and GPT-2, tied and untied).
func TestParamCount(t *testing.T) {
	cfgs := familyCfgs()
	cfgs["gpt2"], cfgs["gpt2-untied"] = testCfg(true), testCfg(false)
	for name, cfg := range cfgs {
		if got, want := ParamCount(cfg), float64(NumParams(cfg)); got != want {
			t.Errorf("%s: ParamCount %v, NumParams %v", name, got, want)
		}
		if got, want := NumTensors(cfg), len(Tensors(cfg)); got != want {
			t.Errorf("%s: NumTensors %d, len(Tensors) %d", name, got, want)
		}
	}
	// pythia-160m and SmolLM2-135M: their published parameter totals
	for _, tc := range []struct {
		cfg  Config
		want float64
	}{
		{Config{Arch: ArchNeoX, V: 50304, T: 2048, C: 768, L: 12, H: 12, Rotary: 16}, 162322944},
		{Config{Arch: ArchLlama, V: 49152, T: 8192, C: 576, L: 30, H: 9, KV: 3, FF: 1536, RopeTheta: 100000, Tied: true}, 134515008},
	} {
		if got := ParamCount(tc.cfg); got != tc.want {
			t.Errorf("%+v: ParamCount %v, want %v", tc.cfg, got, tc.want)
		}
	}
}

// TestFamilyDeterminism: for every block kind, float32 gradients are the
// same bits with 1, 2 or 3 goroutines per kernel and with packed weights;
// ForwardReuse gives Forward's bits; WorkspaceBytes is the buffers' size.
func TestFamilyDeterminism(t *testing.T) {
	for name, cfg := range familyCfgs() {
		t.Run(name, func(t *testing.T) {
			cfg.T = 40
			m := New[float32](cfg)
			m.Init(3)
			rng := rand.New(rand.NewPCG(4, 0))
			for i := range m.Params {
				m.Params[i] += float32(0.2 * rng.NormFloat64())
			}
			a := randSeq(rng, cfg.V, 37, 20)
			b := Seq{Tokens: slices.Clone(a.Tokens), RespStart: 20}
			b.Tokens[30]++
			b.Tokens[30] %= int32(cfg.V)
			dl := make([]float32, 17)
			for j := range dl {
				dl[j] = float32(rng.NormFloat64())
			}
			var ref []float32
			for _, packed := range []bool{false, true} {
				if packed {
					m.PackWeights()
				}
				for _, procs := range []int{1, 2, 3} {
					ws := m.newWorkspace(procs)
					g := make([]float32, len(m.Params))
					ws.Forward(a.Tokens, a.RespStart)
					lpb := slices.Clone(ws.Forward(b.Tokens, b.RespStart))
					ws.Backward(g, dl)
					ws.Forward(a.Tokens, a.RespStart)
					lpr, reused := ws.ForwardReuse(b.Tokens, b.RespStart)
					if reused != 30 || !slices.Equal(lpr, lpb) {
						t.Errorf("ForwardReuse: reused %d, equal %v", reused, slices.Equal(lpr, lpb))
					}
					if ref == nil {
						ref = g
					} else if !slices.Equal(g, ref) {
						t.Errorf("procs %d packed %v: gradient bits differ", procs, packed)
					}
				}
			}
			m.UnpackWeights()
			ws := m.NewWorkspace()
			ws.Forward(a.Tokens, 1)
			if got, want := wsHeld(ws), WorkspaceBytes(cfg, 37, 4); got != want {
				t.Errorf("workspace holds %v bytes, WorkspaceBytes says %v", got, want)
			}
		})
	}
}

// wsHeld is the bytes of every float32 and int32 slice of ws (as in TestWorkspaceBytes).
func wsHeld(ws *Workspace[float32]) float64 {
	var n int
	add := func(v reflect.Value) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			if f.Kind() == reflect.Slice && (f.Type().Elem().Kind() == reflect.Float32 || f.Type().Elem().Kind() == reflect.Int32) {
				n += 4 * f.Len()
			}
		}
	}
	add(reflect.ValueOf(ws).Elem())
	for l := range ws.layers {
		add(reflect.ValueOf(&ws.layers[l]).Elem())
	}
	return float64(n)
}
