package pref

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestAttributionSums checks the attribution against quantities computed
// independently of it (float64 model):
//   - every dot equals the inner product of the probe's stored gradient with
//     the training pair's g_w, g_l as ProbeBefore computes them for the batch;
//   - for every probe, Σ_i (cw_i·ww_i − cl_i·wl_i)/B = −⟨g_w^p, dst⟩ and
//     Σ_i (cw_i·lw_i − cl_i·ll_i)/B = −⟨g_l^p, dst⟩, with dst Grad's output
//     (relative 1e-9: the two sides differ only by float64 rounding of sums
//     of ~10³ terms);
//   - attribution does not change dst (bit-identical to a Grad without it).
func TestAttributionSums(t *testing.T) {
	for _, c := range []struct {
		loss      string
		normalize bool
	}{{"dpo", false}, {"dpo", true}, {"ipo", false}} {
		m := newModel[float64](4)
		s := NewStepper(m, Config{Loss: mustLoss(t, c.loss, 0), Normalize: c.normalize, Beta: 0.1})
		rng := rand.New(rand.NewPCG(21, 0))
		batch := makePairs(rng, 5, tinyCfg.V)
		probes := makePairs(rng, 3, tinyCfg.V)
		P := len(m.Params)

		// independent per-pair gradients of the training pairs
		if _, err := s.ProbeBefore(batch); err != nil {
			t.Fatal(err)
		}
		bw, bl := s.ProbeGrads()
		var trainW, trainL [][]float64
		for i := range batch {
			trainW = append(trainW, append([]float64(nil), bw[i]...))
			trainL = append(trainL, append([]float64(nil), bl[i]...))
		}

		plain := make([]float64, P)
		if _, _, err := s.Grad(plain, batch); err != nil {
			t.Fatal(err)
		}
		if s.Attribution() != nil {
			t.Fatal("Attribution without SetAttribution is not nil")
		}
		if _, err := s.ProbeBefore(probes); err != nil {
			t.Fatal(err)
		}
		pw, pl := s.ProbeGrads()
		s.SetAttribution(pw, pl)
		dst := make([]float64, P)
		rows, _, err := s.Grad(dst, batch)
		if err != nil {
			t.Fatal(err)
		}
		for j := range dst {
			if math.Float64bits(dst[j]) != math.Float64bits(plain[j]) {
				t.Fatalf("%s: attribution changed dst[%d]: %v vs %v", c.loss, j, dst[j], plain[j])
			}
		}
		att := s.Attribution()
		B := len(batch)
		if len(att) != len(probes)*B {
			t.Fatalf("%d attribution rows, want %d", len(att), len(probes)*B)
		}
		dot := func(a, b []float64) float64 {
			sum := 0.0
			for j := range a {
				sum += a[j] * b[j]
			}
			return sum
		}
		near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-9*math.Max(math.Abs(want), 1e-300) }
		for k := range probes {
			var sumW, sumL float64
			for i := range batch {
				a := att[k*B+i]
				if a.Probe != k || a.Pair != batch[i].Ex.ID || a.Batch != B || a.CW != rows[i].CW || a.CL != rows[i].CL {
					t.Fatalf("row (%d,%d) = %+v; want probe %d, pair %d, cw %v, cl %v", k, i, a, k, batch[i].Ex.ID, rows[i].CW, rows[i].CL)
				}
				for j, w := range []float64{dot(pw[k], trainW[i]), dot(pw[k], trainL[i]), dot(pl[k], trainW[i]), dot(pl[k], trainL[i])} {
					if got := []float64{a.WW, a.WL, a.LW, a.LL}[j]; !near(got, w) {
						t.Errorf("%s probe %d pair %d dot %d = %v, direct %v", c.loss, k, i, j, got, w)
					}
				}
				sumW += (a.CW*a.WW - a.CL*a.WL) / float64(B)
				sumL += (a.CW*a.LW - a.CL*a.LL) / float64(B)
			}
			if w := -dot(pw[k], dst); !near(sumW, w) {
				t.Errorf("%s normalize %v probe %d: Σ contrib_w = %v, −⟨g_w^p, dst⟩ = %v", c.loss, c.normalize, k, sumW, w)
			}
			if w := -dot(pl[k], dst); !near(sumL, w) {
				t.Errorf("%s normalize %v probe %d: Σ contrib_l = %v, −⟨g_l^p, dst⟩ = %v", c.loss, c.normalize, k, sumL, w)
			}
		}
		s.SetAttribution(nil, nil)
		if _, _, err := s.Grad(dst, batch); err != nil || s.Attribution() != nil {
			t.Fatalf("after SetAttribution(nil, nil): err %v, rows %v", err, s.Attribution())
		}
	}
}

// TestAttributionLanes: the attribution rows are bit-identical with 1, 3
// and 4 lanes (float32 model).
func TestAttributionLanes(t *testing.T) {
	run := func(procs int) []float64 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m := newModel[float32](9)
		s := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0), Beta: 0.1})
		rng := rand.New(rand.NewPCG(15, 0))
		batch := makePairs(rng, 7, tinyCfg.V)
		probes := makePairs(rng, 2, tinyCfg.V)
		dst := make([]float32, len(m.Params))
		var out []float64
		for range 2 {
			if _, err := s.ProbeBefore(probes); err != nil {
				t.Fatal(err)
			}
			s.SetAttribution(s.ProbeGrads())
			if _, _, err := s.Grad(dst, batch); err != nil {
				t.Fatal(err)
			}
			for _, a := range s.Attribution() {
				out = append(out, a.WW, a.WL, a.LW, a.LL, a.CW, a.CL, float64(a.Pair))
			}
			for i := range m.Params {
				m.Params[i] -= 0.01 * dst[i]
			}
		}
		return out
	}
	want := run(1)
	if len(want) != 2*2*7*7 {
		t.Fatalf("%d values, want %d", len(want), 2*2*7*7)
	}
	for _, procs := range []int{3, 4} {
		got := run(procs)
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("value %d = %v with %d lanes, %v with 1", i, got[i], procs, want[i])
			}
		}
	}
}
