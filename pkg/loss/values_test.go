package loss

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Naive reference functions, written out independently of mathutil.go; they
// are accurate at the moderate arguments used here.
func sig(x float64) float64  { return 1 / (1 + math.Exp(-x)) }
func lsig(x float64) float64 { return math.Log(sig(x)) }

// handPair is the worked point of TestValuesByHand:
//
//	z_w = −10, z_l = −14, z_w^ref = −11, z_l^ref = −12, |y_w| = 4, |y_l| = 8
//	r_w = 1, r_l = −2, Δ = 3, z̄_w = −2.5, z̄_l = −1.75, NLL = 10/4 = 2.5
var handPair = Pair{Chosen: -10, Rejected: -14, RefChosen: -11, RefRejected: -12,
	LenChosen: 4, LenRejected: 8, KL: 0.5}

// TestValuesByHand checks each loss's value, margin and weights at handPair
// against its formula written out in the test (β = 0.1 unless set), not by
// calling the implementation. Rows marked "by hand" have exact arithmetic in
// the comment.
func TestValuesByHand(t *testing.T) {
	lo := func(m float64) float64 { return m - math.Log(1-math.Exp(m)) } // ORPO log-odds
	dpopPair := handPair
	dpopPair.Chosen = -12 // r_w = −1 < 0: the DPOP penalty is active
	ktoNeg := handPair
	ktoNeg.KL = -1 // clamped to z0 = 0

	// ORPO at handPair: u = lo(−2.5) − lo(−1.75).
	uo := lo(-2.5) - lo(-1.75)
	// DiscoPOP at u = 0.3, τ = 0.05: ℓ = −log σ(u) + m(e^{−u} + log σ(u)), m = σ(u/τ) = σ(6),
	// so ℓ' = −σ(−u) + m'(e^{−u} + log σ(u)) + m(σ(−u) − e^{−u}), m' = m(1−m)/τ.
	m := sig(6)
	dm := m * (1 - m) / 0.05
	dpl := -sig(-0.3) + dm*(math.Exp(-0.3)+lsig(0.3)) + m*(sig(-0.3)-math.Exp(-0.3))

	for _, tc := range []struct {
		name string
		set  func(*Params) // changes to Defaults(name); nil = defaults
		p    Pair
		want Result
	}{
		// u = βΔ = 0.3.
		{"sigmoid", nil, handPair, Result{-lsig(0.3), 0.3, 0.1 * sig(-0.3), 0.1 * sig(-0.3)}},
		{"dpo", nil, handPair, Result{-lsig(0.3), 0.3, 0.1 * sig(-0.3), 0.1 * sig(-0.3)}},
		{"sigmoid", func(q *Params) { q.LabelSmoothing = 0.2 }, handPair, Result{-0.8*lsig(0.3) - 0.2*lsig(-0.3), 0.3,
			0.1 * (0.8*sig(-0.3) - 0.2*sig(0.3)), 0.1 * (0.8*sig(-0.3) - 0.2*sig(0.3))}},
		// By hand: u = 0.3 < 1: ℓ = 1 − 0.3 = 0.7, d = β = 0.1.
		{"hinge", nil, handPair, Result{0.7, 0.3, 0.1, 0.1}},
		// By hand: β = 0.5, u = 1.5 ≥ 1: ℓ = 0, d = 0.
		{"hinge", func(q *Params) { q.Beta = 0.5 }, handPair, Result{0, 1.5, 0, 0}},
		// By hand: δ = 1/4 − (−2)/8 = 0.5, target 1/(2·0.1) = 5: ℓ = 4.5² = 20.25,
		// d_w = 2·4.5/4 = 2.25, d_l = 2·4.5/8 = 1.125.
		{"ipo", nil, handPair, Result{20.25, 0.5, 2.25, 1.125}},
		{"robust", func(q *Params) { q.LabelSmoothing = 0.1 }, handPair, Result{(-0.9*lsig(0.3) + 0.1*lsig(-0.3)) / 0.8, 0.3,
			0.1 * (0.9*sig(-0.3) + 0.1*sig(0.3)) / 0.8, 0.1 * (0.9*sig(-0.3) + 0.1*sig(0.3)) / 0.8}},
		// ε = 1e-3: q_w = σ(0.3).
		{"exo_pair", nil, handPair, Result{
			sig(0.3)*(math.Log(sig(0.3))-math.Log(0.999)) + sig(-0.3)*(math.Log(sig(-0.3))-math.Log(0.001)), 0.3,
			0.1 * sig(0.3) * sig(-0.3) * (math.Log(0.999/0.001) - 0.3),
			0.1 * sig(0.3) * sig(-0.3) * (math.Log(0.999/0.001) - 0.3)}},
		// a = βr_w = 0.1, b = βr_l = −0.2.
		{"nca_pair", nil, handPair, Result{-lsig(0.1) - 0.5*lsig(-0.1) - 0.5*lsig(0.2), 0.3,
			0.1 * (sig(-0.1) - 0.5*sig(0.1)), 0.05 * sig(-0.2)}},
		{"bco_pair", nil, handPair, Result{-lsig(0.1) - lsig(0.2), 0.3, 0.1 * sig(-0.1), 0.1 * sig(-0.2)}},
		// By hand: 1/(2β) = 5: ℓ = (1−5)² + (−2+5)² = 16 + 9 = 25, d_w = 2(5−1) = 8, d_l = 2(−2+5) = 6.
		{"sppo_hard", nil, handPair, Result{25, 0.3, 8, 6}},
		// By hand: half of the above.
		{"sppo", nil, handPair, Result{12.5, 0.3, 4, 3}},
		{"apo_zero", nil, handPair, Result{1 - sig(0.1) + sig(-0.2), 0.3, 0.1 * sig(0.1) * sig(-0.1), 0.1 * sig(-0.2) * sig(0.2)}},
		{"apo_down", nil, handPair, Result{sig(0.1) + 1 - sig(0.3), 0.3,
			0.1 * (sig(0.3)*sig(-0.3) - sig(0.1)*sig(-0.1)), 0.1 * sig(0.3) * sig(-0.3)}},
		// δ = 0.5 (as for ipo), u = 0.05.
		{"sigmoid_norm", nil, handPair, Result{-lsig(0.05), 0.05, 0.1 * sig(-0.05) / 4, 0.1 * sig(-0.05) / 8}},
		{"discopop", nil, handPair, Result{(1-m)*(-lsig(0.3)) + m*math.Exp(-0.3), 0.3, -0.1 * dpl, -0.1 * dpl}},
		// By hand: u = z_w − z_l = 4 ≥ δ = 1: ℓ = 0, d = 0.
		{"slic", nil, handPair, Result{0, 4, 0, 0}},
		// By hand: δ = 5, c = 0.5: ℓ = (5 − 4) + 0.5·2.5 = 2.25, d_w = 1 + 0.5/4 = 1.125, d_l = 1.
		{"slic", func(q *Params) { q.Delta = 5; q.NLLCoef = 0.5 }, handPair, Result{2.25, 4, 1.125, 1}},
		// z0 = 0.5: a = 0.1(1 − 0.5) = 0.05, b = 0.1(0.5 + 2) = 0.25.
		{"kto_pair", nil, handPair, Result{(1 - sig(0.05)) + (1 - sig(0.25)), 0.3,
			0.1 * sig(0.05) * sig(-0.05), 0.1 * sig(0.25) * sig(-0.25)}},
		// KL = −1 is clamped to z0 = 0: a = 0.1, b = 0.2; λ_D = 2, λ_U = 3.
		{"kto_pair", func(q *Params) { q.DesirableWeight, q.UndesirableWeight = 2, 3 }, ktoNeg, Result{
			2*(1-sig(0.1)) + 3*(1-sig(0.2)), 0.3, 2 * 0.1 * sig(0.1) * sig(-0.1), 3 * 0.1 * sig(0.2) * sig(-0.2)}},
		// c = 1: ℓ = NLL − β log σ(u) = 2.5 − 0.1 log σ(u); lo'(z̄) = 1/(1 − e^{z̄}).
		{"orpo", nil, handPair, Result{2.5 - 0.1*lsig(uo), uo,
			(0.1*sig(-uo)/(1-math.Exp(-2.5)) + 1) / 4, 0.1 * sig(-uo) / (1 - math.Exp(-1.75)) / 8}},
		// u = 0.1(−2.5 + 1.75) − 0.5 = −0.575.
		{"simpo", nil, handPair, Result{-lsig(-0.575), -0.575, 0.1 * sig(0.575) / 4, 0.1 * sig(0.575) / 8}},
		// u = 0.1(−10 + 14) = 0.4, c = 1: ℓ = −log σ(0.4) + 2.5, d_w = 0.1σ(−0.4) + 1/4.
		{"cpo", nil, handPair, Result{-lsig(0.4) + 2.5, 0.4, 0.1*sig(-0.4) + 0.25, 0.1 * sig(-0.4)}},
		// u = 0.3 + 0.2(4 − 8) = −0.5.
		{"rdpo", nil, handPair, Result{-lsig(-0.5), -0.5, 0.1 * sig(0.5), 0.1 * sig(0.5)}},
		// r_w = 1 ≥ 0: no penalty, DPO's values.
		{"dpop", nil, handPair, Result{-lsig(0.3), 0.3, 0.1 * sig(-0.3), 0.1 * sig(-0.3)}},
		// r_w = −1, Δ = 1, penalty 1: u = 0.1(1 − 50) = −4.9, d_w = 0.1σ(4.9)(1 + 50).
		{"dpop", nil, dpopPair, Result{-lsig(-4.9), -4.9, 0.1 * sig(4.9) * 51, 0.1 * sig(4.9)}},
		// By hand: u = −2.5 + 1.75 = −0.75 < 0: ℓ = 0.75 + 1·2.5 = 3.25,
		// d_w = (1 + 1)/4 = 0.5, d_l = 1/8 = 0.125.
		{"rrhf", nil, handPair, Result{3.25, -0.75, 0.5, 0.125}},
	} {
		q, err := Defaults(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if tc.set != nil {
			tc.set(&q)
		}
		l, err := New(tc.name, q)
		if err != nil {
			t.Fatalf("New(%q, %+v): %v", tc.name, q, err)
		}
		got := l.Eval(tc.p)
		if !closeResult(got, tc.want, 1e-12) {
			t.Errorf("%s(%+v).Eval(%+v) = %+v, want %+v", tc.name, q, tc.p, got, tc.want)
		}
	}
}

// closeResult compares every field to relative tolerance tol (absolute near 0).
func closeResult(a, b Result, tol float64) bool {
	c := func(x, y float64) bool { return math.Abs(x-y) <= tol*math.Max(1, math.Abs(y)) }
	return c(a.Loss, b.Loss) && c(a.Margin, b.Margin) && c(a.DW, b.DW) && c(a.DL, b.DL)
}

func mustNew(t *testing.T, name string, set func(*Params)) Loss {
	t.Helper()
	q, err := Defaults(name)
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(&q)
	}
	l, err := New(name, q)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestIdentities checks the identities the brief and the paper state.
func TestIdentities(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 0))
	pairs := make([]Pair, 100)
	for i := range pairs {
		pairs[i] = randomPair(rng)
	}

	t.Run("dpo d_w == d_l", func(t *testing.T) {
		l := mustNew(t, "dpo", nil)
		for _, p := range pairs {
			if r := l.Eval(p); r.DW != r.DL {
				t.Errorf("dpo.Eval(%+v): d_w = %v, d_l = %v, want equal", p, r.DW, r.DL)
			}
		}
	})

	t.Run("sigmoid at Δ = 0", func(t *testing.T) {
		// −log σ(0) = log 2 and d = βσ(0) = β/2, for any β.
		for _, beta := range []float64{0.1, 0.5, 3} {
			l := mustNew(t, "sigmoid", func(q *Params) { q.Beta = beta })
			p := Pair{Chosen: -7, Rejected: -9, RefChosen: -6, RefRejected: -8, LenChosen: 3, LenRejected: 4} // r_w = r_l = −1
			r := l.Eval(p)
			if math.Abs(r.Loss-math.Ln2) > 1e-15 || math.Abs(r.DW-beta/2) > 1e-15 || math.Abs(r.DL-beta/2) > 1e-15 {
				t.Errorf("β=%v: Eval(Δ=0) = %+v, want loss log 2, d = %v", beta, r, beta/2)
			}
		}
	})

	t.Run("rdpo with equal lengths is dpo", func(t *testing.T) {
		dpo, rdpo := mustNew(t, "dpo", nil), mustNew(t, "rdpo", nil)
		for _, p := range pairs {
			p.LenRejected = p.LenChosen
			if a, b := rdpo.Eval(p), dpo.Eval(p); a != b {
				t.Errorf("rdpo.Eval(%+v) = %+v, want dpo's %+v", p, a, b)
			}
		}
	})

	t.Run("simpo r = |y_l|/|y_w|", func(t *testing.T) {
		l := mustNew(t, "simpo", nil) // NLLCoef 0 by default
		for _, p := range pairs {
			r := l.Eval(p)
			want := float64(p.LenRejected) / float64(p.LenChosen)
			if got := r.DW / r.DL; math.Abs(got-want) > 1e-12*want {
				t.Errorf("simpo.Eval(%+v): d_w/d_l = %v, want %v", p, got, want)
			}
		}
	})

	t.Run("dpop is dpo when chosen ≥ ref", func(t *testing.T) {
		dpo, dpop := mustNew(t, "dpo", nil), mustNew(t, "dpop", nil)
		n := 0
		for _, p := range pairs {
			if p.Chosen < p.RefChosen {
				continue
			}
			n++
			if a, b := dpop.Eval(p), dpo.Eval(p); a != b {
				t.Errorf("dpop.Eval(%+v) = %+v, want dpo's %+v", p, a, b)
			}
		}
		if n == 0 {
			t.Fatal("no pair with chosen ≥ ref")
		}
	})

	t.Run("sppo is half of sppo_hard", func(t *testing.T) {
		a, b := mustNew(t, "sppo", nil), mustNew(t, "sppo_hard", nil)
		for _, p := range pairs {
			x, y := a.Eval(p), b.Eval(p)
			if !closeResult(Result{2 * x.Loss, x.Margin, 2 * x.DW, 2 * x.DL}, y, 1e-14) {
				t.Errorf("2·sppo.Eval(%+v) = %+v, want sppo_hard's %+v", p, x, y)
			}
		}
	})

	t.Run("robust with ε = 0 is dpo", func(t *testing.T) {
		a, b := mustNew(t, "robust", nil), mustNew(t, "dpo", nil)
		for _, p := range pairs {
			if x, y := a.Eval(p), b.Eval(p); !closeResult(x, y, 1e-15) {
				t.Errorf("robust.Eval(%+v) = %+v, want dpo's %+v", p, x, y)
			}
		}
	})

	t.Run("kto_pair reference point shifts both log-ratios", func(t *testing.T) {
		// With z0 = KL ≥ 0, ℓ(r_w, r_l; z0) = ℓ(r_w − z0, r_l − z0; 0).
		l := mustNew(t, "kto_pair", nil)
		for _, p := range pairs {
			p.KL = math.Abs(p.KL)
			q := p
			q.RefChosen += p.KL
			q.RefRejected += p.KL
			q.KL = 0
			if x, y := l.Eval(p), l.Eval(q); !closeResult(Result{x.Loss, 0, x.DW, x.DL}, Result{y.Loss, 0, y.DW, y.DL}, 1e-12) {
				t.Errorf("kto_pair.Eval(%+v) = %+v, want %+v", p, x, y)
			}
		}
	})

	t.Run("WithNLL adds coef/|y_w| to d_w only", func(t *testing.T) {
		const coef = 0.75
		for _, name := range Names() {
			l := mustNew(t, name, nil)
			w := WithNLL(l, coef)
			if w.Name() != l.Name()+"+nll" || w.NeedsRef() != l.NeedsRef() {
				t.Errorf("WithNLL(%s): Name, NeedsRef = %q, %v", name, w.Name(), w.NeedsRef())
			}
			for _, p := range pairs {
				a, b := l.Eval(p), w.Eval(p)
				want := Result{a.Loss - coef*p.Chosen/float64(p.LenChosen), a.Margin, a.DW + coef/float64(p.LenChosen), a.DL}
				if !closeResult(b, want, 1e-14) || b.DL != a.DL || b.Margin != a.Margin {
					t.Errorf("WithNLL(%s).Eval(%+v) = %+v, want %+v", name, p, b, want)
				}
			}
		}
	})

	t.Run("alias dpo is sigmoid", func(t *testing.T) {
		a, b := mustNew(t, "dpo", nil), mustNew(t, "sigmoid", nil)
		if a.Name() != "sigmoid" {
			t.Errorf(`New("dpo").Name() = %q, want "sigmoid"`, a.Name())
		}
		if x, y := a.Eval(handPair), b.Eval(handPair); x != y {
			t.Errorf("dpo %+v != sigmoid %+v", x, y)
		}
	})

	t.Run("extreme margins stay finite", func(t *testing.T) {
		// |βΔ| = 50 overflows naive log(1+e^x) in no loss here; exp terms (discopop
		// for u ≪ 0) may legitimately be large but must not be NaN.
		for _, name := range Names() {
			l := mustNew(t, name, func(q *Params) { q.Beta = 1 })
			for _, d := range []float64{-50, 50} {
				p := Pair{Chosen: -20, Rejected: -30, RefChosen: -20 - d/2, RefRejected: -30 + d/2, LenChosen: 5, LenRejected: 7}
				r := l.Eval(p)
				if math.IsNaN(r.Loss) || math.IsNaN(r.DW) || math.IsNaN(r.DL) || math.IsInf(r.DW, 0) || math.IsInf(r.DL, 0) {
					t.Errorf("%s.Eval(Δ=%v) = %+v, want no NaN", name, d, r)
				}
			}
		}
	})
}

// TestNewErrors checks domain errors and unknown names.
func TestNewErrors(t *testing.T) {
	for _, name := range Names() {
		q, _ := Defaults(name)
		if _, err := New(name, q); err != nil {
			t.Errorf("New(%q, Defaults) = %v, want nil", name, err)
		}
	}
	for _, tc := range []struct {
		name  string
		set   func(*Params)
		field string
	}{
		{"sigmoid", func(q *Params) { q.Beta = 0 }, "Beta"},
		{"ipo", func(q *Params) { q.Beta = -0.1 }, "Beta"},
		{"simpo", func(q *Params) { q.Beta = math.NaN() }, "Beta"},
		{"cpo", func(q *Params) { q.Beta = math.Inf(1) }, "Beta"},
		{"sigmoid", func(q *Params) { q.LabelSmoothing = 0.5 }, "LabelSmoothing"},
		{"robust", func(q *Params) { q.LabelSmoothing = -0.01 }, "LabelSmoothing"},
		{"exo_pair", func(q *Params) { q.LabelSmoothing = 0 }, "LabelSmoothing"},
		{"exo_pair", func(q *Params) { q.LabelSmoothing = 0.5 }, "LabelSmoothing"},
		{"discopop", func(q *Params) { q.Tau = 0 }, "Tau"},
		{"simpo", func(q *Params) { q.Gamma = -1 }, "Gamma"},
		{"rdpo", func(q *Params) { q.Alpha = -0.2 }, "Alpha"},
		{"dpop", func(q *Params) { q.Lambda = -1 }, "Lambda"},
		{"slic", func(q *Params) { q.Delta = -1 }, "Delta"},
		{"rrhf", func(q *Params) { q.NLLCoef = -1 }, "NLLCoef"},
		{"orpo", func(q *Params) { q.NLLCoef = math.NaN() }, "NLLCoef"},
		{"kto_pair", func(q *Params) { q.DesirableWeight = 0 }, "DesirableWeight"},
		{"kto_pair", func(q *Params) { q.UndesirableWeight = -1 }, "UndesirableWeight"},
	} {
		q, _ := Defaults(tc.name)
		tc.set(&q)
		_, err := New(tc.name, q)
		if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.HasPrefix(err.Error(), "loss: ") {
			t.Errorf("New(%q, %+v) error = %v, want a \"loss: \" error naming %s", tc.name, q, err, tc.field)
		}
	}
	// A field the loss does not read is ignored: rrhf has no β.
	if _, err := New("rrhf", Params{Beta: -1, NLLCoef: 1}); err != nil {
		t.Errorf("New(rrhf, Beta=-1) = %v, want nil (Beta unused)", err)
	}
	for _, f := range []func() error{
		func() error { _, err := New("nope", Params{}); return err },
		func() error { _, err := Defaults("nope"); return err },
		func() error { _, err := ParamNames("nope"); return err },
	} {
		err := f()
		if err == nil {
			t.Fatal("unknown name: error = nil")
		}
		for _, n := range Names() {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("unknown-name error %q does not list %q", err, n)
			}
		}
	}
}

// TestRegistry checks Names and ParamNames against the brief's list.
func TestRegistry(t *testing.T) {
	want := []string{"apo_down", "apo_zero", "bco_pair", "cpo", "discopop", "dpo", "dpop", "exo_pair", "hinge",
		"ipo", "kto_pair", "nca_pair", "orpo", "rdpo", "robust", "rrhf", "sigmoid", "sigmoid_norm", "simpo",
		"slic", "sppo", "sppo_hard"}
	got := Names()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	ps, _ := ParamNames("simpo")
	if strings.Join(ps, ",") != "Beta,Gamma,LabelSmoothing,NLLCoef" {
		t.Errorf("ParamNames(simpo) = %v", ps)
	}
}

// TestPanicsAndValidate checks the programmer-error panics and Pair.Validate.
func TestPanicsAndValidate(t *testing.T) {
	panics := func(f func()) (msg any) {
		defer func() { msg = recover() }()
		f()
		return nil
	}
	l := mustNew(t, "dpo", nil)
	if msg := panics(func() { l.Eval(Pair{LenChosen: 0, LenRejected: 1}) }); msg != errLength {
		t.Errorf("Eval(len 0) panic = %v, want %q", msg, errLength)
	}
	if msg := panics(func() { WithNLL(l, -1) }); msg == nil {
		t.Error("WithNLL(-1) did not panic")
	}
	if msg := panics(func() { Normalized(Result{}, -1, 1) }); msg == nil {
		t.Error("Normalized(norm -1) did not panic")
	}
	if err := handPair.Validate(); err != nil {
		t.Errorf("Validate(handPair) = %v", err)
	}
	for _, p := range []Pair{
		{Chosen: math.NaN(), LenChosen: 1, LenRejected: 1},
		{RefRejected: math.Inf(-1), LenChosen: 1, LenRejected: 1},
		{LenChosen: 1, LenRejected: 0},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want error", p)
		}
	}
}
