package optim

import (
	"math"
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
