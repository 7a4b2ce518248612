package optim

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestAdamW checks two steps on a single parameter θ0 = 1 with g = 0.5 then -1,
// lr 0.1, weight decay 0.1, computed by hand from PyTorch's AdamW formula:
//
//	step 1: θ = 0.99; m = 0.05; v = 0.00025; m̂ = 0.5; v̂ = 0.25
//	        θ = 0.99 - 0.1·0.5/(0.5+1e-8) = 0.890000002 (to 1e-17)
//	step 2: θ = 0.890000002·0.99 = 0.88110000198; m = -0.055; v = 0.00124975
//	        m̂ = -0.055/0.19; v̂ = 0.00124975/0.001999
//	        θ = 0.88110000198 + 0.1·0.2894736842105263/(0.7906880508... + 1e-8)
func TestAdamW(t *testing.T) {
	for _, f32 := range []bool{false, true} {
		p, g := []float64{1}, []float64{0.5}
		o := NewAdamW[float64](1, 0.1)
		o.Step(p, g, 0.1)
		want1 := 0.99 - 0.1*0.5/(0.5+1e-8)
		if math.Abs(p[0]-0.890000002) > 1e-15 || math.Abs(p[0]-want1) > 1e-15 {
			t.Errorf("step 1: θ = %.17g, want %.17g", p[0], want1)
		}
		g[0] = -1
		o.Step(p, g, 0.1)
		mhat := -0.055 / 0.19
		vhat := 0.00124975 / 0.001999
		want2 := 0.88110000198 - 0.1*mhat/(math.Sqrt(vhat)+1e-8)
		if math.Abs(p[0]-want2) > 1e-12 || o.T != 2 {
			t.Errorf("step 2: θ = %.17g, T = %d, want %.17g, 2", p[0], o.T, want2)
		}
		if math.Abs(o.M[0]+0.055) > 1e-15 || math.Abs(o.V[0]-0.00124975) > 1e-15 {
			t.Errorf("moments m=%v v=%v, want -0.055, 0.00124975", o.M[0], o.V[0])
		}
		if f32 {
			// the float32 instantiation agrees to float32 precision
			p32, g32 := []float32{1}, []float32{0.5}
			o32 := NewAdamW[float32](1, 0.1)
			o32.Step(p32, g32, 0.1)
			if math.Abs(float64(p32[0])-0.890000002) > 1e-7 {
				t.Errorf("float32 step 1: θ = %v", p32[0])
			}
		}
	}
}

// TestSGD: θ0 = 1, g = 0.5 then -1, lr 0.1, momentum 0.9, weight decay 0.1, by hand:
//
//	step 1: g = 0.5 + 0.1·1 = 0.6;  b = 0.6;                 θ = 1 - 0.06 = 0.94
//	step 2: g = -1 + 0.1·0.94 = -0.906; b = 0.9·0.6 - 0.906 = -0.366; θ = 0.94 + 0.0366 = 0.9766
//
// and without momentum or decay, θ = 1 - 0.1·0.5 = 0.95.
func TestSGD(t *testing.T) {
	p, g := []float64{1}, []float64{0.5}
	o := NewSGD[float64](1, 0.9, 0.1)
	o.Step(p, g, 0.1)
	if math.Abs(p[0]-0.94) > 1e-15 {
		t.Errorf("step 1: θ = %v, want 0.94", p[0])
	}
	g[0] = -1
	o.Step(p, g, 0.1)
	if math.Abs(p[0]-0.9766) > 1e-15 || math.Abs(o.M[0]+0.366) > 1e-15 {
		t.Errorf("step 2: θ = %v, b = %v, want 0.9766, -0.366", p[0], o.M[0])
	}
	p[0], g[0] = 1, 0.5
	NewSGD[float64](1, 0, 0).Step(p, g, 0.1)
	if p[0] != 0.95 {
		t.Errorf("plain SGD: θ = %v, want 0.95", p[0])
	}
}

func TestClipGlobalNorm(t *testing.T) {
	for _, tc := range []struct {
		max  float64
		want []float64
	}{
		{1, []float64{0.6, 0.8}}, // 3-4-5 triangle scaled to norm 1
		{0, []float64{3, 4}},     // measure only
		{10, []float64{3, 4}},    // below the limit
	} {
		g := []float64{3, 4}
		if n := ClipGlobalNorm(g, tc.max); n != 5 {
			t.Errorf("ClipGlobalNorm(max %v) = %v, want 5", tc.max, n)
		}
		for i := range g {
			if math.Abs(g[i]-tc.want[i]) > 1e-15 {
				t.Errorf("max %v: grads = %v, want %v", tc.max, g, tc.want)
			}
		}
	}
}

func TestSchedule(t *testing.T) {
	const peak, lo = 1e-3, 1e-4
	mk := func(d string) Schedule { return Schedule{Warmup: 10, Total: 110, Peak: peak, Min: lo, Decay: d} }
	for _, tc := range []struct {
		decay string
		step  int
		want  float64
	}{
		{"cosine", 0, peak / 10}, // first warmup step: Peak·1/10
		{"cosine", 9, peak},      // warmup ends at Peak
		{"cosine", 10, peak},     // r = 0
		{"cosine", 60, lo + 0.5*(peak-lo)},
		{"cosine", 35, lo + 0.5*(1+math.Sqrt(0.5))*(peak-lo)}, // r = 1/4, cos(π/4) = √½
		{"cosine", 110, lo},
		{"cosine", 1000, lo},
		{"linear", 35, lo + 0.75*(peak-lo)},
		{"linear", 110, lo},
		{"constant", 5, peak * 6 / 10},
		{"constant", 500, peak},
	} {
		if got := mk(tc.decay).LR(tc.step); math.Abs(got-tc.want) > 1e-18 {
			t.Errorf("%s LR(%d) = %v, want %v", tc.decay, tc.step, got, tc.want)
		}
	}
	if err := mk("step").Validate(); err == nil {
		t.Error("Validate accepted decay \"step\"")
	}
	if err := mk("cosine").Validate(); err != nil {
		t.Error(err)
	}
	// zero warmup starts at Peak
	if got := (Schedule{Total: 10, Peak: 1, Decay: "cosine"}).LR(0); got != 1 {
		t.Errorf("no-warmup LR(0) = %v, want 1", got)
	}
}

// TestSplit checks that −pre⊙g + hist is the change Step makes, for AdamW
// (with weight decay, over three steps so that the momentum carries over) and
// SGD (plain, with momentum and weight decay) on random parameters in float64,
// and AdamW's step 2 by hand on the one-parameter case of TestAdamW: after
// step 1 (m' = 0.05, θ = 0.890000002), with g = −1, v = 0.00124975 and
// d = 0.19·(√(v/0.001999) + 1e-8), pre = 0.1·0.1/d and
// hist = −0.1·0.9·0.05/d − 0.1·0.1·θ.
func TestSplit(t *testing.T) {
	const n = 50
	type opt interface {
		Step(p, g []float64, lr float64)
		Split(pre, hist []float64, p, g []float64, lr float64)
	}
	for name, o := range map[string]opt{
		"adamw":        NewAdamW[float64](n, 0.1),
		"sgd":          NewSGD[float64](n, 0, 0),
		"sgd-momentum": NewSGD[float64](n, 0.9, 0.01),
	} {
		p, g := make([]float64, n), make([]float64, n)
		pre, hist, before := make([]float64, n), make([]float64, n), make([]float64, n)
		for step := range 3 {
			for i := range n {
				p[i] = math.Sin(float64(3*i + step))
				g[i] = math.Cos(float64(7*i+step)) * float64(i%5)
			}
			lr := 0.01 * float64(step+1)
			o.Split(pre, hist, p, g, lr)
			copy(before, p)
			o.Step(p, g, lr)
			for i := range n {
				want := p[i] - before[i]
				if got := -pre[i]*g[i] + hist[i]; math.Abs(got-want) > 1e-15 {
					t.Fatalf("%s step %d param %d: −pre·g + hist = %.17g, Step changed θ by %.17g", name, step+1, i, got, want)
				}
				if name == "sgd" && (pre[i] != lr || hist[i] != 0) {
					t.Fatalf("plain SGD: pre %v hist %v, want lr %v and 0", pre[i], hist[i], lr)
				}
			}
		}
	}
	o := NewAdamW[float64](1, 0.1)
	p := []float64{1}
	o.Step(p, []float64{0.5}, 0.1)
	pre, hist := []float64{0}, []float64{0}
	o.Split(pre, hist, p, []float64{-1}, 0.1)
	d := 0.19 * (math.Sqrt(0.00124975/0.001999) + 1e-8)
	if wp, wh := 0.1*0.1/d, -0.1*0.9*0.05/d-0.1*0.1*0.890000002; math.Abs(pre[0]-wp) > 1e-12 || math.Abs(hist[0]-wh) > 1e-12 {
		t.Errorf("AdamW step 2: pre %.17g hist %.17g, want %.17g %.17g", pre[0], hist[0], wp, wh)
	}
}

// TestAdamParams: two steps with β1 0.5, β2 0.75, ε 0.1, no decay, lr 0.1,
// θ0 = 1, g = 2 then −2, by hand (every quantity exact in binary):
//
//	step 1: m = 0.5·2 = 1;  v = 0.25·4 = 1;  m̂ = 1/0.5 = 2;  v̂ = 1/0.25 = 4
//	        θ = 1 − 0.1·2/(2 + 0.1) = 1 − 0.2/2.1
//	step 2: m = 0.5·1 − 1 = −0.5;  v = 0.75·1 + 1 = 1.75
//	        m̂ = −0.5/0.75;  v̂ = 1.75/0.4375 = 4
//	        θ = θ1 + 0.1·(0.5/0.75)/(2 + 0.1)
//
// The defaults are PyTorch's, their complements the constants' (so every run
// without the flags is unchanged), and Split still matches Step.
func TestAdamParams(t *testing.T) {
	o := NewAdamW[float64](1, 0)
	o.Adam = Adam{Beta1: 0.5, Beta2: 0.75, Eps: 0.1}
	p := []float64{1}
	o.Step(p, []float64{2}, 0.1)
	want := 1 - 0.2/2.1
	if math.Abs(p[0]-want) > 1e-15 || o.M[0] != 1 || o.V[0] != 1 {
		t.Errorf("step 1: θ %.17g m %v v %v, want %.17g 1 1", p[0], o.M[0], o.V[0], want)
	}
	o.Step(p, []float64{-2}, 0.1)
	want += 0.1 * (0.5 / 0.75) / 2.1
	if math.Abs(p[0]-want) > 1e-15 || o.M[0] != -0.5 || o.V[0] != 1.75 {
		t.Errorf("step 2: θ %.17g m %v v %v, want %.17g -0.5 1.75", p[0], o.M[0], o.V[0], want)
	}

	if d := NewAdamW[float32](1, 0).Adam; d != (Adam{0.9, 0.999, 1e-8}) || d != DefaultAdam() {
		t.Errorf("NewAdamW's defaults %+v, want PyTorch's 0.9 0.999 1e-8", d)
	}
	if c1, c2 := DefaultAdam().complements(); c1 != 1-Beta1 || c2 != 1-Beta2 {
		t.Errorf("default complements %.17g %.17g, want the constants' %.17g %.17g", c1, c2, 1-Beta1, 1-Beta2)
	}
	for _, tc := range []struct{ b, want float64 }{{0, 1}, {0.5, 0.5}, {0.95, 0.05}, {0.99, 0.01}, {0.9999, 0.0001}} {
		if got := complement(tc.b); got != tc.want {
			t.Errorf("complement(%v) = %.17g, want %.17g", tc.b, got, tc.want)
		}
	}

	const n = 20
	a := NewAdamW[float64](n, 0.05)
	a.Adam = Adam{Beta1: 0.8, Beta2: 0.95, Eps: 1e-3}
	p, g := make([]float64, n), make([]float64, n)
	pre, hist, before := make([]float64, n), make([]float64, n), make([]float64, n)
	for step := range 3 {
		for i := range n {
			p[i], g[i] = math.Sin(float64(5*i+step)), math.Cos(float64(3*i+step))
		}
		a.Split(pre, hist, p, g, 0.01)
		copy(before, p)
		a.Step(p, g, 0.01)
		for i := range n {
			if got, want := -pre[i]*g[i]+hist[i], p[i]-before[i]; math.Abs(got-want) > 1e-15 {
				t.Fatalf("step %d param %d: −pre·g + hist = %.17g, Step changed θ by %.17g", step+1, i, got, want)
			}
		}
	}

	for _, bad := range []Adam{{1, 0.999, 1e-8}, {0.9, -0.1, 1e-8}, {0.9, 0.999, 0}, {0.9, 0.999, math.Inf(1)}, {math.NaN(), 0.999, 1e-8}} {
		if bad.Validate() == nil {
			t.Errorf("Validate accepted %+v", bad)
		}
	}
	if err := DefaultAdam().Validate(); err != nil {
		t.Error(err)
	}
}

// TestAdamWParts checks that AdamW.Step over a vector of several parts
// (partLen) gives, for GOMAXPROCS 1, 2 and 4, the bits of the element-wise
// formula computed serially here.
func TestAdamWParts(t *testing.T) {
	n := 3*partLen + 123
	p0, g := make([]float32, n), make([]float32, n)
	for i := range n {
		p0[i] = float32(math.Sin(float64(i)))
		g[i] = float32(math.Cos(float64(3 * i)))
	}
	// the formula of Step, serially, two steps
	want, m, v := append([]float32(nil), p0...), make([]float32, n), make([]float32, n)
	for step := 1; step <= 2; step++ {
		bc1, bc2 := 1-math.Pow(Beta1, float64(step)), 1-math.Pow(Beta2, float64(step))
		for i := range n {
			gi := float64(g[i])
			mi := Beta1*float64(m[i]) + (1-Beta1)*gi
			vi := Beta2*float64(v[i]) + (1-Beta2)*gi*gi
			m[i], v[i] = float32(mi), float32(vi)
			want[i] = float32(float64(want[i])*(1-0.01*0.1) - 0.01*(mi/bc1)/(math.Sqrt(vi/bc2)+Eps))
		}
	}
	for _, procs := range []int{1, 2, 4} {
		old := runtime.GOMAXPROCS(procs)
		p := append([]float32(nil), p0...)
		o := NewAdamW[float32](n, 0.1)
		o.Step(p, g, 0.01)
		o.Step(p, g, 0.01)
		runtime.GOMAXPROCS(old)
		for i := range n {
			if math.Float32bits(p[i]) != math.Float32bits(want[i]) || o.M[i] != m[i] || o.V[i] != v[i] {
				t.Fatalf("GOMAXPROCS %d: element %d: θ %v m %v v %v, want %v %v %v", procs, i, p[i], o.M[i], o.V[i], want[i], m[i], v[i])
			}
		}
	}
}

// BenchmarkAdamW is one AdamW step over 16M float32 parameters (GPT-2 124M
// has 124M): memory-bound, so it shows what the parallel parts give.
func BenchmarkAdamW(b *testing.B) {
	n := 1 << 24
	p, g := make([]float32, n), make([]float32, n)
	for i := range g {
		g[i] = float32(i%7) - 3
	}
	o := NewAdamW[float32](n, 0.1)
	o.Step(p, g, 1e-3)
	b.ResetTimer()
	for range b.N {
		o.Step(p, g, 1e-3)
	}
}

// TestClipGlobalNormParts: over 3.5 parts of random values (of different
// scales) the norm is the
// float64 sum of the parts' sums of squares (each in index order, parts
// added in order), bit for bit, with GOMAXPROCS 1 and 3, and the clipped
// values are F(g·maxNorm/norm).
func TestClipGlobalNormParts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 0))
	g := make([]float32, 3*partLen+partLen/2)
	for i := range g { // parts of different scales: the order of their sums matters
		g[i] = float32(rng.NormFloat64() * []float64{1, 1e-2, 3, 1e3}[i/partLen])
	}
	var want float64
	for lo := 0; lo < len(g); lo += partLen {
		var s float64
		for _, x := range g[lo:min(len(g), lo+partLen)] {
			s += float64(x) * float64(x)
		}
		want += s
	}
	want = math.Sqrt(want)
	for _, procs := range []int{1, 3} {
		prev := runtime.GOMAXPROCS(procs)
		c := append([]float32(nil), g...)
		norm := ClipGlobalNorm(c, 1)
		runtime.GOMAXPROCS(prev)
		if math.Float64bits(norm) != math.Float64bits(want) {
			t.Errorf("GOMAXPROCS %d: norm %.17g, want %.17g", procs, norm, want)
		}
		for i := range c {
			if w := float32(float64(g[i]) * (1 / want)); c[i] != w {
				t.Fatalf("GOMAXPROCS %d: clipped[%d] = %v, want %v", procs, i, c[i], w)
			}
		}
	}
}
