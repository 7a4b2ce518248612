package pref

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"entangle/pkg/optim"
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

// TestAttributionUpdate checks the attribution of the applied update (Step
// with Dump.Split, float64 model):
//   - under AdamW with weight decay and clipping, after two warm-up steps (so
//     that the momentum carries over), every probe's pair shares plus its
//     history term, Σ_i (cw_i·ww_i − cl_i·wl_i)/B + HW, equal ⟨g_w^p, Δθ⟩ as
//     ProbeAfter measures it from the parameters (relative 1e-9), and the
//     same for the rejected side;
//   - under plain SGD the dots are lr times the raw-gradient dots (relative
//     1e-12) and the history term is 0: it reduces to SetAttribution's;
//   - the step applied is bit-identical to one without attribution.
func TestAttributionUpdate(t *testing.T) {
	for _, name := range []string{"adamw", "sgd"} {
		const lr, clip = 0.05, 0.5
		var runs [2][]float64 // parameters after the last step, with and without attribution
		for pass, attrib := range []bool{true, false} {
			m := newModel[float64](4)
			s := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0), Beta: 0.1})
			rng := rand.New(rand.NewPCG(22, 0))
			probes := makePairs(rng, 3, tinyCfg.V)
			P := len(m.Params)
			var o optim.Splitter[float64]
			var step func(p, g []float64, lr float64)
			maxNorm := 0.0
			if name == "adamw" {
				a := optim.NewAdamW[float64](P, 0.1)
				o, step, maxNorm = a, a.Step, clip
			} else {
				g := optim.NewSGD[float64](P, 0, 0)
				o, step = g, g.Step
			}
			update := func(g []float64) {
				optim.ClipGlobalNorm(g, maxNorm)
				step(m.Params, g, lr)
			}
			dst, buf := make([]float64, P), make([]float64, P)
			for k := range 3 {
				batch := makePairs(rng, 4, tinyCfg.V)
				if k < 2 {
					if _, err := s.Step(dst, batch, nil, update); err != nil {
						t.Fatal(err)
					}
					continue
				}
				var raw []AttribDots
				if name == "sgd" && attrib {
					if _, err := s.ProbeBefore(probes); err != nil {
						t.Fatal(err)
					}
					s.SetAttribution(s.ProbeGrads())
					if _, _, err := s.Grad(dst, batch); err != nil {
						t.Fatal(err)
					}
					raw = append(raw, s.Attribution()...)
					s.SetAttribution(nil, nil)
				}
				d := &Dump{Probes: probes, Attrib: attrib, Split: func(pre, hist, g []float64) {
					optim.SplitClipped(o, pre, hist, m.Params, g, maxNorm, lr, buf)
				}}
				r, err := s.Step(dst, batch, d, update)
				if err != nil {
					t.Fatal(err)
				}
				if !attrib {
					break
				}
				if len(r.Attrib) != len(probes)*len(batch) {
					t.Fatalf("%s: %d attribution rows, want %d", name, len(r.Attrib), len(probes)*len(batch))
				}
				for k := range probes {
					var sw, sl float64
					var hw, hl float64
					for _, a := range r.Attrib {
						if a.Probe == k {
							sw += (a.CW*a.WW - a.CL*a.WL) / float64(a.Batch)
							sl += (a.CW*a.LW - a.CL*a.LL) / float64(a.Batch)
							hw, hl = a.HW, a.HL
						}
					}
					pw, pl := r.Probes[k].PredW, r.Probes[k].PredL
					if math.Abs(sw+hw-pw) > 1e-9*math.Abs(pw) || math.Abs(sl+hl-pl) > 1e-9*math.Abs(pl) {
						t.Errorf("%s probe %d: shares + history = %.12g, %.12g; ⟨g^p, Δθ⟩ = %.12g, %.12g", name, k, sw+hw, sl+hl, pw, pl)
					}
					if name == "adamw" && (hw == 0 || math.IsNaN(hw)) {
						t.Errorf("adamw probe %d: history term %v, want a nonzero number after warm-up steps", k, hw)
					}
					if name == "sgd" && (hw != 0 || hl != 0) {
						t.Errorf("sgd probe %d: history %v %v, want 0", k, hw, hl)
					}
				}
				for i, a := range raw {
					u := r.Attrib[i]
					for j, pair := range [][2]float64{{u.WW, a.WW}, {u.WL, a.WL}, {u.LW, a.LW}, {u.LL, a.LL}} {
						if math.Abs(pair[0]-lr*pair[1]) > 1e-12*math.Abs(lr*pair[1]) {
							t.Fatalf("sgd row %d dot %d: %.15g, want lr·raw = %.15g", i, j, pair[0], lr*pair[1])
						}
					}
				}
			}
			runs[pass] = append([]float64(nil), m.Params...)
		}
		for j := range runs[0] {
			if math.Float64bits(runs[0][j]) != math.Float64bits(runs[1][j]) {
				t.Fatalf("%s: parameter %d differs with and without attribution", name, j)
			}
		}
	}
}
