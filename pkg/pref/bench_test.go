package pref

import (
	"bufio"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/optim"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
)

// benchBatch is the PyTorch baseline's workload (scripts/bench/torch_step.py):
// 16 pairs, a 16-token prompt, responses filling the context and differing in
// their last 4 tokens, uniform random tokens; reference log-probs are given.
func benchBatch(cfg model.Config) []Pair {
	rng := rand.New(rand.NewPCG(1, 0))
	const B, prompt, diff = 16, 16, 4
	resp := cfg.T - prompt
	var batch []Pair
	for i := 0; i < B; i++ {
		ex := &prefdata.Example{ID: int64(i)}
		for range prompt {
			ex.Prompt = append(ex.Prompt, rng.Int32N(int32(cfg.V)))
		}
		for k := 0; k < resp; k++ {
			t := rng.Int32N(int32(cfg.V))
			ex.Chosen = append(ex.Chosen, t)
			if k >= resp-diff {
				t = rng.Int32N(int32(cfg.V))
			}
			ex.Rejected = append(ex.Rejected, t)
		}
		ex.ChosenContrastive, ex.RejectedContrastive = prefdata.PositionalFlags(ex.Chosen, ex.Rejected)
		batch = append(batch, Pair{Ex: ex, RefW: -200, RefL: -200})
	}
	return batch
}

// BenchmarkPrefStep is one DPO training step on the baseline's workload with
// an UNTIED LM head (as torch_step.py --untied): Grad (per pair g_w and g_l,
// their dots and norms per group, the batch gradient) plus the AdamW update,
// the step torch_step.py --mode dpo times without the statistics.
// Sub-benchmark "SIZE/dumps" also writes the pairs.arrows rows of a default
// train run (dumps off: one row per pair per step) to a file. Metrics: ms/step
// and VmHWM-MB, the process's peak resident memory (/proc/self/status) after
// the run, for comparison with torch_step.py's.
func BenchmarkPrefStep(b *testing.B) {
	for _, preset := range []string{"S", "M"} {
		for _, dumps := range []bool{false, true} {
			name := preset
			if dumps {
				name += "/dumps"
			}
			b.Run(name, func(b *testing.B) {
				cfg, err := model.Preset(preset)
				if err != nil {
					b.Fatal(err)
				}
				cfg.Tied = false
				m := model.New[float32](cfg)
				m.Init(1)
				batch := benchBatch(cfg)
				s := NewStepper(m, Config{Loss: mustLoss(b, "dpo", 0), Beta: 0.1})
				opt := optim.NewAdamW[float32](len(m.Params), 0)
				dst := make([]float32, len(m.Params))
				var pw *runfmt.PairWriter
				if dumps {
					f, err := os.Create(b.TempDir() + "/pairs.arrows")
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
					pw, err = runfmt.NewPairWriter(f, runfmt.Meta{Mode: "pref", Loss: "dpo", C: cfg.C, Groups: benchGroups(cfg)})
					if err != nil {
						b.Fatal(err)
					}
					defer pw.Close()
				}
				step := func(k int) {
					rows, _, err := s.Grad(dst, batch)
					if err != nil {
						b.Fatal(err)
					}
					opt.Step(m.Params, dst, 1e-4)
					if pw != nil {
						if err := pw.Write(benchRows(rows, int64(k))); err != nil {
							b.Fatal(err)
						}
					}
				}
				step(0)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					step(i + 1)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/step")
				if hwm := vmHWM(); hwm > 0 {
					b.ReportMetric(hwm, "VmHWM-MB")
				}
			})
		}
	}
}

// vmHWM returns this process's peak resident set size in MB (VmHWM of
// /proc/self/status), or 0 where that file does not exist.
func vmHWM() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}

// benchGroups and benchRows stand in for pkg/train's conversion to
// pairs.arrows rows (the cost a default train run adds to a step).
func benchGroups(cfg model.Config) []runfmt.Group {
	var gs []runfmt.Group
	for _, g := range Groups(cfg) {
		gs = append(gs, runfmt.Group{Name: g.Name, Offset: g.Off, Size: g.Len})
	}
	return gs
}

func benchRows(rows []PairStats, step int64) []runfmt.PairRow {
	out := make([]runfmt.PairRow, len(rows))
	for i, r := range rows {
		out[i] = runfmt.PairRow{Step: step, Kind: runfmt.KindTrain, Pair: r.Pair, LogpW: r.LogpW, LogpL: r.LogpL,
			RefW: r.RefW, RefL: r.RefL, LenW: r.LenW, LenL: r.LenL, Loss: r.Loss, Margin: r.Margin, DW: r.DW, DL: r.DL,
			CW: r.CW, CL: r.CL, Dot: r.Dot, WW: r.WW, LL: r.LL, DotG: r.DotG, WWG: r.WWG, LLG: r.LLG, HidW: r.HidW,
			HidL: r.HidL, LogpWAfter: r.LogpWAfter, LogpLAfter: r.LogpLAfter, PredW: r.PredW, PredL: r.PredL}
	}
	return out
}
