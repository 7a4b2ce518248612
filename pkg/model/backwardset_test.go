package model

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBackwardSetFamilies: BackwardSet into a buffer of garbage gives the bits
// of clear + Backward for every block kind (families plus GPT-2 tiny, tied and
// untied), float32 with and without packed weights and float64, serial and
// 3-goroutine kernels, and a head chunk shorter than the response (so the
// head's gradient is set by its first chunk and added by the next); and
// BackwardSetRows of a second sequence into the first one's gradient, with
// the first one's tokens, gives the bits of clear + Backward.
func TestBackwardSetFamilies(t *testing.T) {
	cfgs := familyCfgs()
	tiny, _ := Preset("tiny")
	cfgs["gpt2-tied"] = tiny
	tiny.Tied = false
	cfgs["gpt2-untied"] = tiny
	old := headChunk
	headChunk = 2
	defer func() { headChunk = old }()
	for name, cfg := range cfgs {
		rng := rand.New(rand.NewPCG(21, 0))
		n := cfg.T - 1
		s := randSeq(rng, cfg.V, n, 1)
		d := make([]float64, n-1)
		for j := range d {
			d[j] = rng.NormFloat64()
		}
		for _, procs := range []int{1, 3} {
			for _, packed := range []bool{false, true} {
				m := New[float32](cfg)
				m.Init(4)
				if packed {
					m.PackWeights()
				}
				checkBackwardSet(t, name, m, procs, s, d, rng)
			}
			m := New[float64](cfg)
			m.Init(4)
			checkBackwardSet(t, name+"/float64", m, procs, s, d, rng)
		}
	}
}

func checkBackwardSet[F Float](t *testing.T, name string, m *Model[F], procs int, s Seq, d64 []float64, rng *rand.Rand) {
	t.Helper()
	d := make([]F, len(d64))
	for j, v := range d64 {
		d[j] = F(v)
	}
	ws := m.newWorkspace(procs)
	ws.Forward(s.Tokens, s.RespStart)
	want := make([]F, len(m.Params))
	ws.Backward(want, d)
	got := make([]F, len(m.Params))
	for i := range got {
		got[i] = F(rng.NormFloat64())
	}
	ws.BackwardSet(got, d)
	if !slices.Equal(got, want) {
		t.Errorf("%s procs %d: BackwardSet differs from clear + Backward", name, procs)
	}
	// BackwardSetRows of another sequence into the same buffer, with the
	// first one's tokens as prev: got's untied wte is zero outside those
	// rows, so the bits are clear + Backward's of the second sequence
	s2 := randSeq(rng, m.Cfg.V, len(s.Tokens)-2, 2)
	d2 := d[:len(s2.Tokens)-s2.RespStart]
	ws.Forward(s2.Tokens, s2.RespStart)
	want2 := make([]F, len(m.Params))
	ws.Backward(want2, d2)
	ws.BackwardSetRows(got, d2, s.Tokens)
	if !slices.Equal(got, want2) {
		t.Errorf("%s procs %d: BackwardSetRows differs from clear + Backward", name, procs)
	}
	if !slices.Equal(ws.Tokens(), s2.Tokens) {
		t.Errorf("%s: Tokens is not the last Forward's", name)
	}
	ws.Forward(s.Tokens, s.RespStart)
	// Backward still adds to what dparams holds (not exactly twice the
	// gradient: a tied wte adds the head's and the embedding's parts to it
	// one after the other), so within rounding
	twice := slices.Clone(want)
	ws.Backward(twice, d)
	for i := range want {
		if diff := float64(twice[i] - 2*want[i]); diff > 1e-5*(1+2*float64(max(want[i], -want[i]))) || -diff > 1e-5*(1+2*float64(max(want[i], -want[i]))) {
			t.Fatalf("%s procs %d: Backward twice: element %d is %v, want ≈ %v", name, procs, i, twice[i], 2*want[i])
		}
	}
}
