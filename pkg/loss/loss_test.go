package loss

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
)

// altParams is a second, non-default setting of every hyperparameter, so the
// gradient checks do not only see TRL's defaults (β = 0.1 keeps u near 0).
func altParams(name string) Params {
	p := Params{Beta: 0.7, LabelSmoothing: 0.1, Tau: 0.3, Gamma: 1.3, Alpha: 0.05,
		Lambda: 3, Delta: 2, NLLCoef: 0.4, DesirableWeight: 0.7, UndesirableWeight: 1.6}
	if name == ExoPair {
		p.LabelSmoothing = 0.2
	}
	return p
}

// randomPair draws a pair with log-probs in a range where every loss is
// finite: z ∈ [−80, −0.5] (orpo needs z < 0), log-ratios r ∈ [−15, 15]
// (so βΔ spans both sides of every kink for β = 0.1), lengths 1..40, KL ∈ [−1, 3]
// (negative values exercise kto_pair's clamp).
func randomPair(rng *rand.Rand) Pair {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	p := Pair{Chosen: u(-80, -0.5), Rejected: u(-80, -0.5),
		LenChosen: 1 + rng.IntN(40), LenRejected: 1 + rng.IntN(40), KL: u(-1, 3)}
	p.RefChosen = p.Chosen - u(-15, 15)
	p.RefRejected = p.Rejected - u(-15, 15)
	return p
}

// kinks returns, for the losses with a non-differentiable point, the signed
// distance to it in the loss's own variable; nil for smooth losses.
func kinks(name string, q Params, p Pair) []float64 {
	rw, rl := p.Chosen-p.RefChosen, p.Rejected-p.RefRejected
	switch name {
	case Hinge:
		return []float64{1 - q.Beta*(rw-rl)}
	case SLiC:
		return []float64{q.Delta - (p.Chosen - p.Rejected)}
	case RRHF:
		return []float64{p.Rejected/float64(p.LenRejected) - p.Chosen/float64(p.LenChosen)}
	case DPOP:
		return []float64{-rw}
	}
	return nil
}

// TestWeightsFiniteDifference checks d_w = −∂ℓ/∂z_w and d_l = +∂ℓ/∂z_l
// against central differences of Eval(...).Loss for every name (aliases
// included), with default and alternative hyperparameters, with and without
// WithNLL, at random points on both sides of every kink.
//
// Tolerance: central differences with step h = 1e-4 have truncation error
// h²/6·|ℓ”'| (|ℓ”'| ≲ 20 in z-units here, e.g. dpop's β(1+λ) = 5.1 slope)
// plus rounding ~1e-16·|ℓ|/h ≲ 1e-10, so 1e-6·(1 + |d|) has a wide margin while
// a wrong factor (even 1 ± 1e-4) fails.
func TestWeightsFiniteDifference(t *testing.T) {
	const (
		h       = 1e-4
		tol     = 1e-6
		points  = 200
		kinkGap = 1e-2 // skip points this close to a kink (≫ h)
	)
	settings := &fd.Settings{Formula: fd.Central, Step: h}
	for _, name := range Names() {
		defaults, err := Defaults(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, set := range []struct {
			label string
			q     Params
			nll   float64 // 0: plain loss; else WithNLL(l, nll)
		}{{"default", defaults, 0}, {"alt", altParams(name), 0}, {"default+nll", defaults, 0.3}} {
			l, err := New(name, set.q)
			if err != nil {
				t.Fatalf("New(%q, %+v): %v", name, set.q, err)
			}
			if set.nll != 0 {
				l = WithNLL(l, set.nll)
			}
			rng := rand.New(rand.NewPCG(1, 0))
			var below, above int // points on each side of the kink(s)
			for n := 0; n < points; {
				p := randomPair(rng)
				ks := kinks(l.Name(), set.q, p)
				if len(ks) == 0 {
					ks = kinks(strings.TrimSuffix(l.Name(), "+nll"), set.q, p)
				}
				near := false
				for _, k := range ks {
					near = near || math.Abs(k) < kinkGap
				}
				if near {
					continue
				}
				n++
				for _, k := range ks {
					if k < 0 {
						below++
					} else {
						above++
					}
				}
				r := l.Eval(p)
				if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
					t.Fatalf("%s/%s: Eval(%+v).Loss = %v, want finite", name, set.label, p, r.Loss)
				}
				fw := fd.Derivative(func(z float64) float64 { q := p; q.Chosen = z; return l.Eval(q).Loss }, p.Chosen, settings)
				fl := fd.Derivative(func(z float64) float64 { q := p; q.Rejected = z; return l.Eval(q).Loss }, p.Rejected, settings)
				if math.Abs(-fw-r.DW) > tol*(1+math.Abs(r.DW)) {
					t.Errorf("%s/%s: Eval(%+v).DW = %.12g, want −∂ℓ/∂z_w = %.12g", name, set.label, p, r.DW, -fw)
				}
				if math.Abs(fl-r.DL) > tol*(1+math.Abs(r.DL)) {
					t.Errorf("%s/%s: Eval(%+v).DL = %.12g, want +∂ℓ/∂z_l = %.12g", name, set.label, p, r.DL, fl)
				}
			}
			if len(kinks(strings.TrimSuffix(l.Name(), "+nll"), set.q, Pair{LenChosen: 1, LenRejected: 1})) > 0 && (below == 0 || above == 0) {
				t.Errorf("%s/%s: points below/above the kink = %d/%d, want both > 0", name, set.label, below, above)
			}
		}
	}
}

// TestNeedsRef checks that reference-free losses ignore RefChosen/RefRejected
// and reference-based ones do not.
func TestNeedsRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 0))
	p := randomPair(rng)
	q := p
	q.RefChosen -= 3.25
	q.RefRejected += 1.5
	for _, name := range Names() {
		d, _ := Defaults(name)
		l, _ := New(name, d)
		a, b := l.Eval(p), l.Eval(q)
		if l.NeedsRef() == (a == b) {
			t.Errorf("%s: NeedsRef() = %v but changing the reference changes the result: %v", name, l.NeedsRef(), a != b)
		}
	}
}

// TestParamsJSON: Params are written with snake_case keys (as the rest of
// a run's config.json) and read back, from them and from the Go field
// names that files written before hold.
func TestParamsJSON(t *testing.T) {
	p := Params{Beta: 0.1, LabelSmoothing: 0.2, Tau: 0.3, Gamma: 0.4, Alpha: 0.5, Lambda: 0.6, Delta: 0.7, NLLCoef: 0.8, DesirableWeight: 0.9, UndesirableWeight: 1.1}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"beta":0.1,"label_smoothing":0.2,"tau":0.3,"gamma":0.4,"alpha":0.5,"lambda":0.6,"delta":0.7,"nll_coef":0.8,"desirable_weight":0.9,"undesirable_weight":1.1}`
	if string(b) != want {
		t.Errorf("written %s\nwant    %s", b, want)
	}
	old := `{"Beta":0.1,"LabelSmoothing":0.2,"Tau":0.3,"Gamma":0.4,"Alpha":0.5,"Lambda":0.6,"Delta":0.7,"NLLCoef":0.8,"DesirableWeight":0.9,"UndesirableWeight":1.1}`
	for _, in := range []string{want, old} {
		var q Params
		if err := json.Unmarshal([]byte(in), &q); err != nil || q != p {
			t.Errorf("read %s: %+v, %v", in, q, err)
		}
	}
}
