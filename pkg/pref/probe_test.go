package pref

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/optim"
)

// TestLeanProbesSameBits: Step's probes without attribution keep no
// gradient vector (probesAround), yet give the bits of the order that keeps
// them — Grad, ProbeBefore, the gradient dumps, the update, ProbeAfter(Δθ)
// — for every probe statistic, the dumped vectors and the parameters, over
// consecutive AdamW steps, in float32 and float64.
func TestLeanProbesSameBits(t *testing.T) {
	t.Run("float32", func(t *testing.T) { leanProbes[float32](t) })
	t.Run("float64", func(t *testing.T) { leanProbes[float64](t) })
}

func leanProbes[F model.Float](t *testing.T) {
	type side struct {
		m      *model.Model[F]
		s      *Stepper[F]
		update func([]F)
	}
	mk := func() side {
		m := newModel[F](5)
		a := optim.NewAdamW[F](len(m.Params), 0.01)
		return side{m, NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0)}), func(g []F) {
			optim.ClipGlobalNorm(g, 1)
			a.Step(m.Params, g, 1e-2)
		}}
	}
	lean, ref := mk(), mk()
	rng := rand.New(rand.NewPCG(3, 0))
	probes := makePairs(rng, 3, tinyCfg.V)
	P := len(lean.m.Params)
	dst, dst2 := make([]F, P), make([]F, P)
	for k := range 3 {
		batch := makePairs(rng, 4, tinyCfg.V)
		grads := k == 1
		r, err := lean.s.Step(dst, batch, &Dump{Probes: probes, Grads: grads}, lean.update)
		if err != nil {
			t.Fatal(err)
		}
		if gw, gl := lean.s.ProbeGrads(); gw != nil || gl != nil || len(lean.s.probes.gw) != 0 {
			t.Fatalf("step %d: the lean probes kept %d gradient vectors", k, len(lean.s.probes.gw))
		}

		if _, _, err := ref.s.Grad(dst2, batch); err != nil {
			t.Fatal(err)
		}
		if _, err := ref.s.ProbeBefore(probes); err != nil {
			t.Fatal(err)
		}
		var vecs []GradVec
		if grads {
			vecs = ref.s.Dump(nil, VecProbe, probes, 0, nil)
		}
		before := append([]F(nil), ref.m.Params...)
		ref.update(dst2)
		delta := make([]F, P)
		for i := range delta {
			delta[i] = ref.m.Params[i] - before[i]
		}
		want := ref.s.ProbeAfter(delta)
		if grads {
			vecs = append(vecs, UpdateVec(delta, nil))
		}

		if len(r.Probes) != len(want) {
			t.Fatalf("step %d: %d probe rows, want %d", k, len(r.Probes), len(want))
		}
		for i := range want {
			if g, w := fmt.Sprintf("%+v", r.Probes[i]), fmt.Sprintf("%+v", want[i]); g != w {
				t.Errorf("step %d probe %d:\n got %s\nwant %s", k, i, g, w)
			}
		}
		if g, w := fmt.Sprint(r.Grads), fmt.Sprint(vecs); g != w {
			t.Errorf("step %d: the dumped vectors differ", k)
		}
		for i := range lean.m.Params {
			if lean.m.Params[i] != ref.m.Params[i] {
				t.Fatalf("step %d: parameter %d is %v, want %v", k, i, lean.m.Params[i], ref.m.Params[i])
			}
		}
	}
}
