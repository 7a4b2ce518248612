package main

import (
	"bufio"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"entangle/pkg/entangle"
	"entangle/pkg/runfmt"
)

// writeSyntheticRun writes a larger run shaped like a DPO run on the
// sentiment tasks (paper §5.2): cosines drift towards drift (negative for
// 1t, positive with a suffix), probes every 20 steps with per-token
// gradients of one pair (10 chosen and 10 rejected tokens, the first
// contrastive, the rest shared). The numbers are synthetic: this exercises
// the figures at a realistic size, it is not a simulation of training.
func writeSyntheticRun(t testing.TB, dir string, seed uint64, task string, drift float64, steps, batch int) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	const D, nTok = 64, 10
	names := modelGroupNames(2)
	groups := make([]runfmt.Group, len(names))
	for g, n := range names {
		groups[g] = runfmt.Group{Name: n, Offset: g, Size: 1}
	}
	meta := runfmt.Meta{RunID: task + "-run", Config: `{"data":"/data/` + task + `.arrows","pref":{"loss":"dpo","params":{"Beta":0.1}}}`,
		Loss: "dpo", Mode: "pref", C: 2, Dim: D, Sketch: "sketch:64", Groups: groups,
		Vocab: []string{"<pad>", "<eos>", " positive", " negative", " the", " movie", " was", " really", " quite", " good", " fun", " !"}}
	open := func(name string) (*os.File, *bufio.Writer) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return f, bufio.NewWriter(f)
	}
	fs, ws := open("steps.arrows")
	fp, wp := open("pairs.arrows")
	fg, wg := open("grads.arrows")
	sw, _ := runfmt.NewStepWriter(ws, meta)
	pw, _ := runfmt.NewPairWriter(wp, meta)
	gw, err := runfmt.NewGradWriter(wg, meta)
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	G := len(names)
	split := func(v float64) []float64 {
		out := make([]float64, G)
		w, sum := make([]float64, G), 0.0
		for g := range w {
			w[g] = 1 + rng.Float64() + float64(g%3)
			sum += w[g]
		}
		for g := range out {
			out[g] = v * w[g] / sum
		}
		return out
	}
	pairRow := func(s, id int64, kind string) runfmt.PairRow {
		prog := float64(s) / float64(steps)
		cos := math.Tanh(drift*prog*3 + 0.4*rng.NormFloat64())
		ww, ll := math.Exp(0.5*rng.NormFloat64()), math.Exp(0.5*rng.NormFloat64())
		dot := cos * math.Sqrt(ww*ll)
		lw := -12 + 4*drift*-prog + rng.NormFloat64()
		ll2 := -12 - 6*prog + rng.NormFloat64()
		p := runfmt.PairRow{Step: s, Kind: kind, Pair: id, LogpW: lw, LogpL: ll2, RefW: -12, RefL: -12, LenW: nTok, LenL: nTok,
			DW: 0.05, DL: 0.05, CW: 0.05, CL: 0.05, Dot: dot, WW: ww, LL: ll, DotG: split(dot), WWG: split(ww), LLG: split(ll),
			HidW: []float32{1, 0}, HidL: []float32{0, 1}, LogpWAfter: nan, LogpLAfter: nan, PredW: nan, PredL: nan}
		if kind == "probe" {
			st := entangle.Pair(dot, ww, ll, 0.05, 0.05)
			p.PredW, p.PredL = 1e-2*st.DeltaW, 1e-2*st.DeltaL
			p.LogpWAfter = lw + p.PredW*(1+0.1*rng.NormFloat64())
			p.LogpLAfter = ll2 + p.PredL*(1+0.1*rng.NormFloat64())
		}
		return p
	}
	for s := int64(0); s < int64(steps); s++ {
		var rows []runfmt.PairRow
		for k := 0; k < batch; k++ {
			rows = append(rows, pairRow(s, s*int64(batch)+int64(k), "train"))
		}
		st := runfmt.NullStepRow(s, "train")
		st.LogpChosen, st.LogpRejected = rows[0].LogpW, rows[0].LogpL
		srows := []runfmt.StepRow{st}
		if s%20 == 0 || s == int64(steps)-1 {
			ev := runfmt.NullStepRow(s, "eval")
			prog := float64(s) / float64(steps)
			ev.LogpChosen, ev.LogpRejected = -12-4*drift*prog, -12-6*prog
			srows = append(srows, ev)
			var grows []runfmt.GradRow
			for p := int64(0); p < 8; p++ {
				rows = append(rows, pairRow(s, 100000+p, "probe"))
			}
			// Per-token gradients of probe pair 100000: shared tokens
			// near-identical (cos → 1 as the suffix grows), contrastive
			// tokens opposite.
			base := make([][]float32, nTok)
			for i := range base {
				base[i] = make([]float32, D)
				for j := range base[i] {
					base[i][j] = float32(rng.NormFloat64())
				}
			}
			for _, side := range []string{"chosen", "rejected"} {
				for i := 0; i < nTok; i++ {
					g := make([]float32, D)
					for j := range g {
						g[j] = base[i][j] + float32(0.5*rng.NormFloat64())
						if i == 0 && side == "rejected" {
							g[j] = -base[i][j]
						}
					}
					id := int32(4 + i%8)
					if i == 0 {
						id = 2
						if side == "rejected" {
							id = 3
						}
					}
					con := int8(0)
					if i == 0 {
						con = 1
					}
					grows = append(grows, runfmt.GradRow{Step: s, Kind: "probe", Pair: 100000, Side: side, Token: int32(i), TokenID: id, Contrastive: con, Grad: g})
				}
			}
			if err := gw.Write(grows); err != nil {
				t.Fatal(err)
			}
		}
		if err := sw.Write(srows); err != nil {
			t.Fatal(err)
		}
		if err := pw.Write(rows); err != nil {
			t.Fatal(err)
		}
	}
	sw.Close()
	pw.Close()
	gw.Close()
	for _, fw := range []struct {
		f *os.File
		w *bufio.Writer
	}{{fs, ws}, {fp, wp}, {fg, wg}} {
		fw.w.Flush()
		fw.f.Close()
	}
}

// modelGroupNames returns the model.Tensors names of an L-layer model.
func modelGroupNames(L int) []string {
	names := []string{"wte", "wpe"}
	for l := 0; l < L; l++ {
		for _, s := range []string{"ln1.w", "ln1.b", "attn.qkv.w", "attn.qkv.b", "attn.proj.w", "attn.proj.b", "ln2.w", "ln2.b", "mlp.fc.w", "mlp.fc.b", "mlp.proj.w", "mlp.proj.b"} {
			names = append(names, "h."+string(rune('0'+l))+"."+s)
		}
	}
	return append(names, "lnf.w", "lnf.b")
}

// TestReportSyntheticSweep writes a report of a three-run sweep at a
// realistic size (200 steps × 32 pairs): it exercises thinning-free long
// series, group aggregation (28 groups → layer and kind) and dense planes.
// With PLOT_REPORT_OUT=dir the sweep's report is kept there for a look
// (scripts/check_report.sh dir).
func TestReportSyntheticSweep(t *testing.T) {
	tmp := t.TempDir()
	for i, task := range []string{"1t", "short-suffix", "long-suffix"} {
		writeSyntheticRun(t, filepath.Join(tmp, "sweep", "task="+task), uint64(i+1), task, []float64{-0.6, 0.3, 0.7}[i], 200, 32)
	}
	out := filepath.Join(tmp, "report")
	if keep := os.Getenv("PLOT_REPORT_OUT"); keep != "" {
		out = keep
	}
	code, _, stderr := runPlot(t, "", "report", "-o", out, filepath.Join(tmp, "sweep"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// Every figure, the heatmap once per run.
	if n := len(dirFiles(t, out)); n != len(figures)-1+3+1 {
		t.Errorf("%d files: %v", n, dirFiles(t, out))
	}
}
