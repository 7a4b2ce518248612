package pref

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"entangle/pkg/model"
	"entangle/pkg/optim"
	"entangle/pkg/prefdata"
)

// gpt2Small is GPT-2 small's shape (the "gpt2" model): 124,439,808 parameters.
var gpt2Small = model.Config{V: 50257, T: 1024, C: 768, L: 12, H: 12, Tied: true}

// gpt2Batch is the 124M comparison's workload (scripts/bench/gpt2_124m.py):
// b pairs of a prompt of p tokens and two responses of r tokens that differ in
// their first token only (prefgen's sentiment shape), uniform random tokens.
func gpt2Batch(cfg model.Config, b, p, r int) []Pair {
	rng := rand.New(rand.NewPCG(3, 0))
	var out []Pair
	for i := range b {
		ex := &prefdata.Example{ID: int64(i)}
		for range p {
			ex.Prompt = append(ex.Prompt, rng.Int32N(int32(cfg.V)))
		}
		for range r {
			ex.Chosen = append(ex.Chosen, rng.Int32N(int32(cfg.V)))
		}
		ex.Rejected = append([]int32(nil), ex.Chosen...)
		ex.Rejected[0] = (ex.Chosen[0] + 1) % int32(cfg.V)
		ex.ChosenContrastive, ex.RejectedContrastive = prefdata.PositionalFlags(ex.Chosen, ex.Rejected)
		out = append(out, Pair{Ex: ex, RefW: -11 * float64(r), RefL: -11 * float64(r)})
	}
	return out
}

// gpt2Bench skips unless ENTANGLE_BENCH_124M=1: each of these allocates
// several GB (parameters, AdamW moments, each lane's g_w and g_l).
func gpt2Bench(b *testing.B) {
	if os.Getenv("ENTANGLE_BENCH_124M") != "1" {
		b.Skip("set ENTANGLE_BENCH_124M=1 to run the GPT-2 124M benchmarks")
	}
}

// BenchmarkGPT2Step is one DPO step at GPT-2 124M with exact per-pair
// statistics (Grad: every pair's g_w and g_l, their dots and norms per
// parameter group, the batch gradient) plus AdamW: B 8 pairs, prompt 32,
// responses of 32 and 96 tokens. Metrics ms/step, sequences/s (2B per step)
// and VmHWM-MB.
func BenchmarkGPT2Step(b *testing.B) {
	gpt2Bench(b)
	for _, r := range []int{32, 96} {
		b.Run(fmt.Sprintf("resp=%d", r), func(b *testing.B) {
			m := model.New[float32](gpt2Small)
			m.Init(1)
			defer m.Close()
			batch := gpt2Batch(gpt2Small, 8, 32, r)
			s := NewStepper(m, Config{Loss: mustLoss(b, "dpo", 0), Beta: 0.1})
			opt := optim.NewAdamW[float32](len(m.Params), 0)
			dst := make([]float32, len(m.Params))
			step := func() {
				if _, _, err := s.Grad(dst, batch); err != nil {
					b.Fatal(err)
				}
				opt.Step(m.Params, dst, 1e-5)
			}
			step()
			start := time.Now()
			for b.Loop() {
				step()
			}
			ms := float64(time.Since(start).Microseconds()) / 1e3 / float64(b.N)
			b.ReportMetric(ms, "ms/step")
			b.ReportMetric(2*float64(len(batch))/ms*1e3, "seq/s")
			b.ReportMetric(vmHWM(), "VmHWM-MB")
		})
	}
}

// BenchmarkGPT2Analyze is the series analysis at GPT-2 124M: Evaluate (every
// pair's statistics, no update) of 8 pairs, prompt 32, responses of 32 and 96
// tokens. Metrics ms/op, sequences/s and VmHWM-MB.
func BenchmarkGPT2Analyze(b *testing.B) {
	gpt2Bench(b)
	for _, r := range []int{32, 96} {
		b.Run(fmt.Sprintf("resp=%d", r), func(b *testing.B) {
			m := model.New[float32](gpt2Small)
			m.Init(1)
			defer m.Close()
			pairs := gpt2Batch(gpt2Small, 8, 32, r)
			s := NewStepper(m, Config{Loss: mustLoss(b, "dpo", 0), Beta: 0.1})
			start := time.Now()
			for b.Loop() {
				if _, err := s.Evaluate(pairs, nil); err != nil {
					b.Fatal(err)
				}
			}
			ms := float64(time.Since(start).Microseconds()) / 1e3 / float64(b.N)
			b.ReportMetric(2*float64(len(pairs))/ms*1e3, "seq/s")
			b.ReportMetric(vmHWM(), "VmHWM-MB")
		})
	}
}

// BenchmarkGPT2SFT is one SFT step at GPT-2 124M: 8 sequences (prompt 32 +
// the chosen response of 32 or 96 tokens), the mean response cross-entropy's
// gradient (model.AccumulateGrads) and AdamW. Metrics ms/step, sequences/s.
func BenchmarkGPT2SFT(b *testing.B) {
	gpt2Bench(b)
	for _, r := range []int{32, 96} {
		b.Run(fmt.Sprintf("resp=%d", r), func(b *testing.B) {
			m := model.New[float32](gpt2Small)
			m.Init(1)
			defer m.Close()
			var seqs []model.Seq
			var dl [][]float32
			for _, p := range gpt2Batch(gpt2Small, 8, 32, r) {
				seqs = append(seqs, model.Seq{Tokens: append(append([]int32(nil), p.Ex.Prompt...), p.Ex.Chosen...), RespStart: 32})
				d := make([]float32, r)
				for j := range d {
					d[j] = -1 / float32(8*r)
				}
				dl = append(dl, d)
			}
			g := make([]float32, len(m.Params))
			opt := optim.NewAdamW[float32](len(m.Params), 0)
			m.AccumulateGrads(g, seqs, dl)
			start := time.Now()
			for b.Loop() {
				clear(g)
				m.AccumulateGrads(g, seqs, dl)
				opt.Step(m.Params, g, 1e-5)
			}
			ms := float64(time.Since(start).Microseconds()) / 1e3 / float64(b.N)
			b.ReportMetric(ms, "ms/step")
			b.ReportMetric(float64(len(seqs))/ms*1e3, "seq/s")
			b.ReportMetric(vmHWM(), "VmHWM-MB")
		})
	}
}

// peak124MBound is the goal for one GPT-2 124M preference step with exact
// per-pair statistics (B 8, T 128): 8 GB of peak resident memory.
const peak124MBound = 8 << 30

// TestPeakRSS124MStep measures, in a fresh process, the peak resident memory
// (VmHWM) of one DPO step with exact per-pair statistics at GPT-2 124M: B 8
// pairs of 128 tokens (prompt 32, responses 96), AdamW, with GOMAXPROCS
// lanes as in a run, and asserts it stays under 8 GB. Opt-in:
// ENTANGLE_PEAK_124M=1 (it allocates several GB and takes minutes).
func TestPeakRSS124MStep(t *testing.T) {
	if os.Getenv("ENTANGLE_PEAK_CHILD") == "1" {
		m := model.New[float32](gpt2Small)
		m.Init(1)
		batch := gpt2Batch(gpt2Small, 8, 32, 96)
		s := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0), Beta: 0.1})
		opt := optim.NewAdamW[float32](len(m.Params), 0)
		dst := make([]float32, len(m.Params))
		rows, _, err := s.Grad(dst, batch)
		if err != nil {
			t.Fatal(err)
		}
		opt.Step(m.Params, dst, 1e-5)
		fmt.Printf("peak %g %g\n", vmHWM(), rows[0].Dot)
		return
	}
	if os.Getenv("ENTANGLE_PEAK_124M") != "1" {
		t.Skip("set ENTANGLE_PEAK_124M=1 to measure the peak memory of a 124M preference step")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSS124MStep$")
	cmd.Env = append(os.Environ(), "ENTANGLE_PEAK_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var mb, dot float64
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "peak "); ok {
			fmt.Sscanf(rest, "%g %g", &mb, &dot)
		}
	}
	if mb == 0 {
		t.Fatalf("child printed no figure:\n%s", out)
	}
	n := float64(model.NumParams(gpt2Small)) * 4 / (1 << 20)
	t.Logf("VmHWM %.0f MiB for one 124M DPO step with per-pair statistics (B 8, T 128, GOMAXPROCS %s; one parameter-sized buffer is %.0f MiB); pair 0's ⟨g_w,g_l⟩ %.4g",
		mb, os.Getenv("GOMAXPROCS"), n, dot)
	if mb*(1<<20) > peak124MBound {
		t.Errorf("VmHWM %.0f MiB exceeds %d MiB", mb, peak124MBound>>20)
	}
}
