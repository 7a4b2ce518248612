package pref

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"entangle/pkg/entangle"
	"entangle/pkg/loss"
	"entangle/pkg/model"
	"entangle/pkg/prefdata"
)

// tinyCfg is small enough for finite differences in float64 over every
// parameter direction, and has two layers so that every kernel is involved.
var tinyCfg = model.Config{V: 16, T: 16, C: 8, L: 2, H: 2, Tied: true}

// makePairs returns n pairs with prompts of 3 tokens and responses of 4 to
// 6 tokens that share a prefix and differ in their last one or two tokens
// (the suffix/contrastive structure of the paper's synthetic tasks).
func makePairs(rng *rand.Rand, n, V int) []Pair {
	var out []Pair
	for i := 0; i < n; i++ {
		ex := &prefdata.Example{ID: int64(100 + i)}
		for range 3 {
			ex.Prompt = append(ex.Prompt, rng.Int32N(int32(V)))
		}
		shared := 2 + rng.IntN(3)
		for range shared {
			t := rng.Int32N(int32(V))
			ex.Chosen = append(ex.Chosen, t)
			ex.Rejected = append(ex.Rejected, t)
		}
		ex.Chosen = append(ex.Chosen, rng.Int32N(int32(V)), rng.Int32N(int32(V)))
		ex.Rejected = append(ex.Rejected, rng.Int32N(int32(V)))
		ex.ChosenContrastive, ex.RejectedContrastive = prefdata.PositionalFlags(ex.Chosen, ex.Rejected)
		out = append(out, Pair{Ex: ex, RefW: -float64(len(ex.Chosen)) * 2.7, RefL: -float64(len(ex.Rejected)) * 2.8})
	}
	return out
}

func newModel[F model.Float](seed uint64) *model.Model[F] {
	m := model.New[F](tinyCfg)
	m.Init(seed)
	// GPT-2's init (std 0.02) makes the tiny model nearly uniform; larger
	// weights give gradients and curvature of ordinary size.
	for i := range m.Params {
		m.Params[i] *= 3
	}
	return m
}

func mustLoss(t testing.TB, name string, nll float64) loss.Loss {
	p, err := loss.Defaults(name)
	if err != nil {
		t.Fatal(err)
	}
	l, err := loss.New(name, p)
	if err != nil {
		t.Fatal(err)
	}
	if nll > 0 {
		l = loss.WithNLL(l, nll)
	}
	return l
}

// TestGradIsMeanLossGradient: dst equals the gradient of (1/B)Σℓ_i, checked
// by central finite differences of MeanLoss along random directions and on
// single coordinates (float64; step h = 1e-6 gives truncation error
// O(h²·‖∇³L‖) and rounding ≈ 1e-16·|L|/h ≈ 1e-9, so 1e-6 relative is a
// tight bound).
func TestGradIsMeanLossGradient(t *testing.T) {
	cases := []struct {
		name   string
		l      loss.Loss
		sparse Sparse
	}{
		{"dpo", mustLoss(t, "dpo", 0), SparseNone},
		{"simpo (length-normalized)", mustLoss(t, "simpo", 0), SparseNone},
		{"dpo+nll", mustLoss(t, "dpo", 1), SparseNone},
		{"ipo", mustLoss(t, "ipo", 0), SparseNone},
		{"dpo oracle mask", mustLoss(t, "dpo", 0), SparseOracle},
		{"dpo learned gate", mustLoss(t, "dpo", 0), SparseLearned},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newModel[float64](uint64(ci + 1))
			rng := rand.New(rand.NewPCG(uint64(ci), 7))
			batch := makePairs(rng, 3, tinyCfg.V)
			s := NewStepper(m, Config{Loss: c.l, Sparse: c.sparse, SparseLambda: 0.3})
			if c.sparse == SparseLearned {
				u := make([]float64, tinyCfg.C)
				for i := range u {
					u[i] = rng.NormFloat64()
				}
				s.SetGate(u, 0.2)
			}
			dst := make([]float64, len(m.Params))
			if _, _, err := s.Grad(dst, batch); err != nil {
				t.Fatal(err)
			}
			meanLoss := s.MeanLoss
			if c.sparse == SparseLearned {
				// The gates see the hidden states detached: hold them at
				// their values at θ while θ moves.
				meanLoss = frozenGates(s, batch)
			}
			fd := func(v []float64) float64 {
				const h = 1e-6
				theta := append([]float64(nil), m.Params...)
				defer copy(m.Params, theta)
				for i := range v {
					m.Params[i] = theta[i] + h*v[i]
				}
				lp := meanLoss(batch)
				for i := range v {
					m.Params[i] = theta[i] - h*v[i]
				}
				lm := meanLoss(batch)
				return (lp - lm) / (2 * h)
			}
			check := func(what string, v []float64) {
				want := fd(v)
				got := 0.0
				for i := range v {
					got += dst[i] * v[i]
				}
				if math.Abs(got-want) > 1e-6*math.Max(math.Abs(want), 1e-3) {
					t.Errorf("%s: ⟨dst,v⟩ = %.12g, finite difference %.12g", what, got, want)
				}
			}
			for k := 0; k < 4; k++ {
				v := make([]float64, len(dst))
				for i := range v {
					v[i] = rng.NormFloat64()
				}
				check("random direction", v)
			}
			// the coordinates of the largest |dst| in three tensors
			for _, name := range []string{"wte", "h.0.attn.qkv.w", "lnf.b"} {
				view := model.ViewOf(dst, tinyCfg, name)
				best := 0
				for i := range view {
					if math.Abs(view[i]) > math.Abs(view[best]) {
						best = i
					}
				}
				v := make([]float64, len(dst))
				model.ViewOf(v, tinyCfg, name)[best] = 1
				check("coordinate of "+name, v)
			}
			if c.sparse == SparseLearned {
				s.weights = learned[float64]{s.gate} // the gate's own values again
				gu, gb := s.GateGrad()
				u0, b0 := s.Gate()
				u := append([]float64(nil), u0...)
				const h = 1e-6
				for k := 0; k < 3; k++ {
					up, um := append([]float64(nil), u...), append([]float64(nil), u...)
					up[k] += h
					um[k] -= h
					s.SetGate(up, b0)
					lp := s.MeanLoss(batch)
					s.SetGate(um, b0)
					lm := s.MeanLoss(batch)
					if want := (lp - lm) / (2 * h); math.Abs(gu[k]-want) > 1e-6*math.Max(math.Abs(want), 1e-3) {
						t.Errorf("gate ∂/∂u[%d] = %.10g, finite difference %.10g", k, gu[k], want)
					}
				}
				s.SetGate(u, b0+h)
				lp := s.MeanLoss(batch)
				s.SetGate(u, b0-h)
				lm := s.MeanLoss(batch)
				if want := (lp - lm) / (2 * h); math.Abs(gb-want) > 1e-6*math.Max(math.Abs(want), 1e-3) {
					t.Errorf("gate ∂/∂b = %.10g, finite difference %.10g", gb, want)
				}
			}
		})
	}
}

// sgd applies θ ← θ − η·dst and returns Δθ.
func sgd[F model.Float](params, dst []F, eta float64) []F {
	delta := make([]F, len(params))
	for i := range params {
		delta[i] = F(-eta * float64(dst[i]))
		params[i] += delta[i]
	}
	return delta
}

// TestFirstOrder: the paper's Eqs. (4)-(5). One pair, SGD with step η: the
// observed changes of z_w and z_l match η(d_w‖g_w‖² − d_l⟨g_w,g_l⟩) and
// η(d_w⟨g_w,g_l⟩ − d_l‖g_l‖²) within 1%. η is chosen so that the step moves
// the log-probs by about 1e-3 nats, where the O(η²) remainder is far below 1%.
func TestFirstOrder(t *testing.T) {
	m := newModel[float64](3)
	s := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0)})
	rng := rand.New(rand.NewPCG(11, 0))
	for _, p := range makePairs(rng, 4, tinyCfg.V) {
		batch := []Pair{p}
		dst := make([]float64, len(m.Params))
		rows, _, err := s.Grad(dst, batch)
		if err != nil {
			t.Fatal(err)
		}
		r := rows[0]
		eta := 1e-3 / (r.DW * (r.WW + r.LL))
		predW := eta * (r.DW*r.WW - r.DL*r.Dot)
		predL := eta * (r.DW*r.Dot - r.DL*r.LL)
		probe, err := s.ProbeBefore(batch)
		if err != nil {
			t.Fatal(err)
		}
		z0w, z0l := probe[0].LogpW, probe[0].LogpL
		theta := append([]float64(nil), m.Params...)
		delta := sgd(m.Params, dst, eta)
		after := s.ProbeAfter(delta)[0]
		copy(m.Params, theta)
		for _, c := range []struct {
			what      string
			obs, pred float64
			predInner float64
		}{
			{"Δlog π_w", after.LogpWAfter - z0w, predW, after.PredW},
			{"Δlog π_l", after.LogpLAfter - z0l, predL, after.PredL},
		} {
			if math.Abs(c.obs-c.pred) > 0.01*math.Abs(c.pred) {
				t.Errorf("pair %d %s: observed %.6g, Eqs. (4)-(5) predict %.6g", p.Ex.ID, c.what, c.obs, c.pred)
			}
			// ⟨g, Δθ⟩ is the same prediction computed from the update.
			if math.Abs(c.predInner-c.pred) > 1e-9*math.Abs(c.pred) {
				t.Errorf("pair %d %s: ⟨g,Δθ⟩ = %.12g, η(...) = %.12g", p.Ex.ID, c.what, c.predInner, c.pred)
			}
		}
	}
}

// TestNormalizeSigns: under Normalize, SGD on a single pair moves, to first
// order, the chosen up and the rejected down (predictions ⟨g,Δθ⟩), and the
// observed changes at small η have the same signs.
func TestNormalizeSigns(t *testing.T) {
	m := newModel[float64](5)
	rng := rand.New(rand.NewPCG(12, 0))
	for _, name := range []string{"dpo", "ipo", "simpo"} {
		s := NewStepper(m, Config{Loss: mustLoss(t, name, 0), Normalize: true})
		for _, p := range makePairs(rng, 5, tinyCfg.V) {
			batch := []Pair{p}
			dst := make([]float64, len(m.Params))
			rows, _, err := s.Grad(dst, batch)
			if err != nil {
				t.Fatal(err)
			}
			w := math.Max(0, (rows[0].DW+rows[0].DL)/2)
			if w == 0 {
				continue
			}
			// the update has norm about η·w·‖g_w/‖g_w‖ − g_l/‖g_l‖‖ ≤ 2ηw
			eta := 1e-4 / w
			pr, err := s.ProbeBefore(batch)
			if err != nil {
				t.Fatal(err)
			}
			z0w, z0l := pr[0].LogpW, pr[0].LogpL
			theta := append([]float64(nil), m.Params...)
			a := s.ProbeAfter(sgd(m.Params, dst, eta))[0]
			copy(m.Params, theta)
			if a.PredW < 0 || a.PredL > 0 {
				t.Errorf("%s pair %d: predicted Δz_w %g, Δz_l %g: want ≥ 0 and ≤ 0", name, p.Ex.ID, a.PredW, a.PredL)
			}
			if (a.LogpWAfter-z0w)*a.PredW < 0 || (a.LogpLAfter-z0l)*a.PredL < 0 {
				t.Errorf("%s pair %d: observed Δz_w %g, Δz_l %g disagree in sign with predictions %g, %g",
					name, p.Ex.ID, a.LogpWAfter-z0w, a.LogpLAfter-z0l, a.PredW, a.PredL)
			}
		}
	}
}

// TestGroupsAndSketch: per-group dots sum to the totals; the totals equal
// dots of the dumped full gradients; sketched dots agree with the exact ones
// within 5 standard deviations of the sketch (entangle.SketchVar).
func TestGroupsAndSketch(t *testing.T) {
	m := newModel[float32](6)
	s := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0)})
	batch := makePairs(rand.New(rand.NewPCG(13, 0)), 3, tinyCfg.V)
	dst := make([]float32, len(m.Params))
	rows, _, err := s.Grad(dst, batch)
	if err != nil {
		t.Fatal(err)
	}
	full := s.Dump(nil, VecTrain, batch, 0, nil)
	const K = 512
	sk := entangle.NewSketch(99, K)
	sketched := s.Dump(nil, VecTrain, batch, 0, sk)
	for i, r := range rows {
		var d, ww, ll float64
		for g := range r.DotG {
			d += r.DotG[g]
			ww += r.WWG[g]
			ll += r.LLG[g]
		}
		for _, c := range [][2]float64{{d, r.Dot}, {ww, r.WW}, {ll, r.LL}} {
			if math.Abs(c[0]-c[1]) > 1e-12*math.Abs(r.WW+r.LL) {
				t.Errorf("pair %d: group sum %.15g, total %.15g", r.Pair, c[0], c[1])
			}
		}
		gw, gl := full[2*i].Grad, full[2*i+1].Grad
		fd, fww, fll := entangle.DotNorms(gw, gl)
		if fd != r.Dot || fww != r.WW || fll != r.LL {
			// Same float32 gradients, different summation grouping (per group vs whole).
			if math.Abs(fd-r.Dot) > 1e-9*(r.WW+r.LL) {
				t.Errorf("pair %d: dumped gradients give dot %.12g, row %.12g", r.Pair, fd, r.Dot)
			}
		}
		sd, _, _ := entangle.DotNorms(sketched[2*i].Grad, sketched[2*i+1].Grad)
		var a2b2 float64
		for k := range gw {
			a2b2 += float64(gw[k]) * float64(gw[k]) * float64(gl[k]) * float64(gl[k])
		}
		sdev := math.Sqrt(entangle.SketchVar(fww, fll, fd, a2b2, K))
		if math.Abs(sd-fd) > 5*sdev {
			t.Errorf("pair %d: sketched dot %.6g, exact %.6g, sketch std %.3g", r.Pair, sd, fd, sdev)
		}
	}
}

// TestAllocsAndDeterminism: Grad allocates nothing after the first step, and
// its results are bit-identical with GOMAXPROCS 1 and 2.
func TestAllocsAndDeterminism(t *testing.T) {
	run := func(procs int) ([]float32, []float64) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m := newModel[float32](7)
		s := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0), Sparse: SparseLearned, SparseLambda: 0.1, GateLR: 0.1})
		batch := makePairs(rand.New(rand.NewPCG(14, 0)), 6, tinyCfg.V)
		dst := make([]float32, len(m.Params))
		var stats []float64
		for step := 0; step < 3; step++ {
			rows, st, err := s.Grad(dst, batch)
			if err != nil {
				t.Fatal(err)
			}
			for i := range m.Params {
				m.Params[i] -= 0.01 * dst[i]
			}
			for _, r := range rows {
				stats = append(stats, r.Dot, r.WW, r.LL, r.LogpW, r.CW, float64(r.HidW[0]))
			}
			stats = append(stats, st.BatchDot, st.Loss, st.CosMean)
		}
		if procs == 1 {
			// With GOMAXPROCS 1 the model's kernels run serially; with more
			// they start goroutines (pkg/model), which allocate.
			out := append([]float32(nil), dst...)
			if a := testing.AllocsPerRun(3, func() { s.Grad(dst, batch) }); a != 0 {
				t.Errorf("Grad allocates %v times per step after the first", a)
			}
			return out, stats
		}
		return append([]float32(nil), dst...), stats
	}
	d1, s1 := run(1)
	d2, s2 := run(2)
	for i := range d1 {
		if math.Float32bits(d1[i]) != math.Float32bits(d2[i]) {
			t.Fatalf("dst[%d] differs: %v (GOMAXPROCS 1) vs %v (2)", i, d1[i], d2[i])
		}
	}
	for i := range s1 {
		if math.Float64bits(s1[i]) != math.Float64bits(s2[i]) {
			t.Fatalf("statistic %d differs: %v vs %v", i, s1[i], s2[i])
		}
	}
}

// TestNaNNamesPair: a non-finite gradient is an error naming the pair.
func TestNaNNamesPair(t *testing.T) {
	m := newModel[float64](8)
	batch := makePairs(rand.New(rand.NewPCG(15, 0)), 2, tinyCfg.V)
	model.ViewOf(m.Params, tinyCfg, "lnf.b")[0] = math.NaN()
	s := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0)})
	_, _, err := s.Grad(make([]float64, len(m.Params)), batch)
	if err == nil || !contains(err.Error(), "pair 100") {
		t.Fatalf("error %v, want one naming pair 100", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestKTOReference: kto_pair's reference point is the batch mean of
// ((z_w − ref_w) + (z_l − ref_l))/2 clamped at 0, recomputed here from the
// rows; and a batch whose policy is below the reference gets 0.
func TestKTOReference(t *testing.T) {
	m := newModel[float64](9)
	s := NewStepper(m, Config{Loss: mustLoss(t, "kto_pair", 0), KL: true})
	batch := makePairs(rand.New(rand.NewPCG(16, 0)), 4, tinyCfg.V)
	for _, shift := range []float64{-30, 30} {
		for i := range batch {
			batch[i].RefW, batch[i].RefL = -float64(len(batch[i].Ex.Chosen))*2.7+shift, -float64(len(batch[i].Ex.Rejected))*2.8+shift
		}
		rows, st, err := s.Grad(make([]float64, len(m.Params)), batch)
		if err != nil {
			t.Fatal(err)
		}
		want := 0.0
		for _, r := range rows {
			want += ((r.LogpW - r.RefW) + (r.LogpL - r.RefL)) / 2
		}
		want = math.Max(0, want/float64(len(rows)))
		if math.Abs(st.KL-want) > 1e-12*math.Max(1, want) {
			t.Errorf("shift %g: KL %g, want %g", shift, st.KL, want)
		}
		if (shift > 0) != (st.KL == 0) {
			t.Errorf("shift %g: KL %g: the reference above the policy must clamp to 0 and below it must not", shift, st.KL)
		}
	}
}

// TestLanesMatchSerial: Grad's result does not depend on the number of lanes
// (GOMAXPROCS 1: one lane; 3 and 4: three and four lanes over 7 pairs, so
// lanes get unequal shares), for the fused path (dpo), the two-pass path
// (Normalize) and kto_pair's batch reference point, to the bit.
func TestLanesMatchSerial(t *testing.T) {
	for _, c := range []struct {
		loss      string
		normalize bool
	}{{"dpo", false}, {"dpo", true}, {"kto_pair", false}} {
		run := func(procs int) ([]float32, []float64) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			m := newModel[float32](9)
			s := NewStepper(m, Config{Loss: mustLoss(t, c.loss, 0), KL: c.loss == "kto_pair", Normalize: c.normalize, Beta: 0.1})
			batch := makePairs(rand.New(rand.NewPCG(15, 0)), 7, tinyCfg.V)
			dst := make([]float32, len(m.Params))
			var stats []float64
			for step := 0; step < 2; step++ {
				rows, st, err := s.Grad(dst, batch)
				if err != nil {
					t.Fatal(err)
				}
				for i := range m.Params {
					m.Params[i] -= 0.01 * dst[i]
				}
				for _, r := range rows {
					stats = append(stats, r.Dot, r.WW, r.LL, r.LogpW, r.LogpL, r.CW, r.CL, r.DotG[3], float64(r.HidL[1]))
				}
				stats = append(stats, st.BatchDot, st.BatchWW, st.BatchLL, st.Loss, st.CosMean, st.KL)
			}
			return dst, stats
		}
		d1, s1 := run(1)
		for _, procs := range []int{3, 4} {
			d, s := run(procs)
			for i := range d1 {
				if math.Float32bits(d1[i]) != math.Float32bits(d[i]) {
					t.Fatalf("%s normalize %v: dst[%d] = %v with 1 lane, %v with %d", c.loss, c.normalize, i, d1[i], d[i], procs)
				}
			}
			for i := range s1 {
				if math.Float64bits(s1[i]) != math.Float64bits(s[i]) {
					t.Fatalf("%s normalize %v: statistic %d = %v with 1 lane, %v with %d", c.loss, c.normalize, i, s1[i], s[i], procs)
				}
			}
		}
	}
}

// frozenGates returns MeanLoss with the learned gate's values held at those
// of the current parameters: it records m_t of every forward of one
// MeanLoss, then replays them in the same order on every call, so that θ
// moves without moving the gates (the gates see the hidden states detached).
func frozenGates[F model.Float](s *Stepper[F], batch []Pair) func([]Pair) float64 {
	rec := &replayGate[F]{inner: s.weights}
	s.weights = rec
	s.MeanLoss(batch)
	rec.replay = true
	return func(b []Pair) float64 {
		rec.next = 0
		return s.MeanLoss(b)
	}
}

// replayGate records the token weights of its inner mode, then replays them.
type replayGate[F model.Float] struct {
	inner  tokenWeights[F]
	qs     [][]float64
	replay bool
	next   int
}

func (r *replayGate[F]) needsHidden() bool { return r.inner.needsHidden() }
func (r *replayGate[F]) set(sd *side, h []F, C int, contrastive []bool) {
	r.inner.set(sd, h, C, contrastive)
	if !r.replay {
		r.qs = append(r.qs, append([]float64(nil), sd.q...))
		return
	}
	copy(sd.q, r.qs[r.next])
	r.next++
}
