package pref

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"entangle/pkg/model"
)

// TestSparseEmbedding: with an untied input embedding the passes skip the
// blocks of wte a pair does not touch and the backward clears only the
// rows the buffer's last sequence touched (zeroBlocks, BackwardSetRows);
// Grad's dst, every row's dots and norms per group and the batch
// statistics are bit-identical to the dense passes' (denseEmbedding), in
// float32 and float64, on one, two (couples) and three lanes, fused and
// Normalize, over three steps of different batches (so that the blocks of
// the sums one batch touched are cleared for the next), for GPT-2, NeoX and
// Llama blocks; and Evaluate's dots match too. The vocabulary is large
// against the pairs' tokens, so most blocks are skipped.
func TestSparseEmbedding(t *testing.T) {
	cfgs := map[string]model.Config{
		"gpt2-untied": {V: 3000, T: 16, C: 32, L: 1, H: 2},
		"neox":        {V: 3000, T: 16, C: 24, L: 1, H: 2, Arch: model.ArchNeoX, Rotary: 4},
		"llama":       {V: 3000, T: 16, C: 32, L: 1, H: 2, KV: 1, Arch: model.ArchLlama, FF: 40, RopeTheta: 1000},
	}
	for name, cfg := range cfgs {
		checkSparseEmbedding[float32](t, name, cfg)
		checkSparseEmbedding[float64](t, name, cfg)
	}
}

func checkSparseEmbedding[F model.Float](t *testing.T, name string, cfg model.Config) {
	t.Helper()
	run := func(dense bool, procs, B int, normalize bool) ([]F, []float64) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		defer func(old bool) { denseEmbedding = old }(denseEmbedding)
		denseEmbedding = dense
		m := model.New[F](cfg)
		m.Init(13)
		for i := range m.Params {
			m.Params[i] *= 3
		}
		s := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0), Normalize: normalize, Beta: 0.1})
		if !dense && s.embGroup() != 0 {
			t.Fatalf("%s: the embedding is not sparse", name)
		}
		rng := rand.New(rand.NewPCG(19, uint64(B)))
		dst := make([]F, len(m.Params))
		var stats []float64
		for range 3 {
			rows, st, err := s.Grad(dst, makePairs(rng, B, cfg.V))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				stats = append(stats, r.Dot, r.WW, r.LL, r.CW, r.CL)
				stats = append(stats, r.DotG...)
				stats = append(stats, r.WWG...)
				stats = append(stats, r.LLG...)
			}
			stats = append(stats, st.BatchDot, st.BatchWW, st.BatchLL, st.Loss)
		}
		ev, err := s.Evaluate(makePairs(rng, 2, cfg.V), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range ev {
			stats = append(stats, r.Dot, r.WW, r.LL)
			stats = append(stats, r.DotG...)
		}
		return dst, stats
	}
	for _, B := range []int{2, 3, 6} {
		for _, normalize := range []bool{false, true} {
			d0, s0 := run(true, 1, B, normalize)
			for _, procs := range []int{1, 2, 3} {
				what := fmt.Sprintf("%s %T B %d normalize %v procs %d", name, d0[0], B, normalize, procs)
				d1, s1 := run(false, procs, B, normalize)
				for i := range d0 {
					if math.Float64bits(float64(d0[i])) != math.Float64bits(float64(d1[i])) {
						t.Fatalf("%s: dst[%d] = %v sparse, %v dense", what, i, d1[i], d0[i])
					}
				}
				for i := range s0 {
					if math.Float64bits(s0[i]) != math.Float64bits(s1[i]) {
						t.Fatalf("%s: statistic %d = %v sparse, %v dense", what, i, s1[i], s0[i])
					}
				}
			}
		}
	}
}
