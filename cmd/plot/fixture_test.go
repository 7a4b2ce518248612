package main

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"testing"

	"entangle/pkg/runfmt"
)

// The fixture run, small enough to compute everything by hand:
//
//   - steps 0..3, two training pairs per step (ids 0 and 1):
//     pair 0: logp_w = −10 + s, logp_l = −10 − s; dot 1, ww 4, ll 2
//     → chosen ratio 1/4, rejected ratio 1/2, case 1, cos 1/√8;
//     pair 1: logp_w = −10 + s, logp_l = −11 − s; dot 3, ww 2, ll 9
//     → chosen ratio 3/2, rejected ratio 1/3, case 2, cos 3/√18 = 1/√2;
//     cw = cl = 1 (dw = dl = 0.5, as under -normalize, to check cw is used);
//   - groups wte, h.0.attn.qkv.w, lnf.w; per pair, dot_g = dot·(1/2, 1/4,
//     1/4), ww_g = ww·(1/2, 1/2, 0), ll_g = ll·(0, 0, 1);
//   - dump steps 0 and 2: probe pair 100 with logp_w −5 → −4.9, logp_l −6 →
//     −6.2 (observed case 1), pred_w 0.11, pred_l −0.19; dot 2, ww 1, ll 4
//     (chosen ratio 2: predicted case 2, so observed and predicted differ);
//   - steps.arrows: train rows (logp_chosen = −10 + s) and eval rows at
//     steps 0 and 3 with logp_chosen −8, −7 and logp_rejected −8, −9.5;
//   - grads.arrows (D = 4, full) at the dump steps: per-token rows of probe
//     pair 100: chosen "good" (contrastive) = e0, "day" = e1 + e2; rejected
//     "bad" (contrastive) = −e0, "day" = e1 + e2 at step 0 and e1 at step 2.
//     Cosines: [[−1, 0], [0, 1]] at step 0, [[−1, 0], [0, 1/√2]] at step 2.
const fixtureSteps = 4

var fixtureVocab = []string{"<pad>", "<eos>", "a", "b", "c", "good", "bad", "day"}

func fixtureMeta() runfmt.Meta {
	return runfmt.Meta{RunID: "0123456789abcdef", Config: `{"data":"/data/1t.arrows","pref":{"loss":"dpo","params":{"Beta":0.1}}}`,
		ModelConfig: `{}`, Loss: "dpo", Mode: "pref", C: 2, Dim: 4, Sketch: "full",
		Groups: []runfmt.Group{{Name: "wte", Offset: 0, Size: 2}, {Name: "h.0.attn.qkv.w", Offset: 2, Size: 1}, {Name: "lnf.w", Offset: 3, Size: 1}},
		Vocab:  fixtureVocab}
}

func trainPair(s int64, k int64) runfmt.PairRow {
	nan := math.NaN()
	p := runfmt.PairRow{Step: s, Kind: "train", Pair: k, LogpW: -10 + float64(s), LogpL: -10 - float64(s) - float64(k),
		RefW: -10, RefL: -10, LenW: 2, LenL: 2, DW: 0.5, DL: 0.5, CW: 1, CL: 1,
		LogpWAfter: nan, LogpLAfter: nan, PredW: nan, PredL: nan, HidW: []float32{1, 0}, HidL: []float32{0, 1}}
	if k == 0 {
		p.Dot, p.WW, p.LL = 1, 4, 2
	} else {
		p.Dot, p.WW, p.LL = 3, 2, 9
	}
	p.DotG = []float64{p.Dot / 2, p.Dot / 4, p.Dot / 4}
	p.WWG = []float64{p.WW / 2, p.WW / 2, 0}
	p.LLG = []float64{0, 0, p.LL}
	return p
}

func probePair(s int64) runfmt.PairRow {
	return runfmt.PairRow{Step: s, Kind: "probe", Pair: 100, LogpW: -5, LogpL: -6, RefW: -5, RefL: -6, LenW: 2, LenL: 2,
		DW: 0.5, DL: 0.5, CW: 0.5, CL: 0.5, Dot: 2, WW: 1, LL: 4, DotG: []float64{1, 0.5, 0.5}, WWG: []float64{0.5, 0.5, 0}, LLG: []float64{0, 0, 4},
		HidW: []float32{1, 0}, HidL: []float32{0, 1}, LogpWAfter: -4.9, LogpLAfter: -6.2, PredW: 0.11, PredL: -0.19}
}

func tokenRows(s int64) []runfmt.GradRow {
	dayL := []float32{0, 1, 1, 0}
	if s == 2 {
		dayL = []float32{0, 1, 0, 0}
	}
	return []runfmt.GradRow{
		{Step: s, Kind: "probe", Pair: 100, Side: "chosen", Token: -1, TokenID: -1, Contrastive: -1, Grad: []float32{1, 1, 1, 0}},
		{Step: s, Kind: "probe", Pair: 100, Side: "rejected", Token: -1, TokenID: -1, Contrastive: -1, Grad: []float32{-1, 1, 1, 0}},
		// Rejected rows first and out of token order: the reader must sort.
		{Step: s, Kind: "probe", Pair: 100, Side: "rejected", Token: 1, TokenID: 7, Contrastive: 0, Grad: dayL},
		{Step: s, Kind: "probe", Pair: 100, Side: "rejected", Token: 0, TokenID: 6, Contrastive: 1, Grad: []float32{-1, 0, 0, 0}},
		{Step: s, Kind: "probe", Pair: 100, Side: "chosen", Token: 0, TokenID: 5, Contrastive: 1, Grad: []float32{1, 0, 0, 0}},
		{Step: s, Kind: "probe", Pair: 100, Side: "chosen", Token: 1, TokenID: 7, Contrastive: 0, Grad: []float32{0, 1, 1, 0}},
		{Step: s, Kind: "update", Pair: -1, Side: "update", Token: -1, TokenID: -1, Contrastive: -1, Grad: []float32{0.1, 0, 0, 0}},
	}
}

// fixtureOptions selects which streams writeRun writes.
type fixtureOptions struct {
	noSteps, noPairs, noGrads bool
	truncatePairs             bool // leave pairs.arrows without its end-of-stream marker
	meta                      func(*runfmt.Meta)
}

// writeRun writes the fixture run into dir (created) with pkg/runfmt's
// writers, as train -out dir would.
func writeRun(t *testing.T, dir string, o fixtureOptions) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	meta := fixtureMeta()
	if o.meta != nil {
		o.meta(&meta)
	}
	create := func(name string) (*os.File, *bufio.Writer) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return f, bufio.NewWriter(f)
	}
	done := func(f *os.File, w *bufio.Writer) {
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if !o.noSteps {
		f, w := create("steps.arrows")
		sw, err := runfmt.NewStepWriter(w, meta)
		check(err)
		for s := int64(0); s < fixtureSteps; s++ {
			tr := runfmt.NullStepRow(s, "train")
			tr.LogpChosen, tr.LogpRejected, tr.Loss = -10+float64(s), -10.5-float64(s), 0.7
			rows := []runfmt.StepRow{tr}
			if s == 0 || s == fixtureSteps-1 {
				ev := runfmt.NullStepRow(s, "eval")
				ev.LogpChosen, ev.LogpRejected = -8, -8
				if s > 0 {
					ev.LogpChosen, ev.LogpRejected = -7, -9.5
				}
				rows = append(rows, ev)
			}
			check(sw.Write(rows))
		}
		check(sw.Close())
		done(f, w)
	}
	if !o.noPairs {
		f, w := create("pairs.arrows")
		pw, err := runfmt.NewPairWriter(w, meta)
		check(err)
		for s := int64(0); s < fixtureSteps; s++ {
			rows := []runfmt.PairRow{trainPair(s, 0), trainPair(s, 1)}
			if s%2 == 0 {
				rows = append(rows, probePair(s))
			}
			check(pw.Write(rows))
		}
		if !o.truncatePairs {
			check(pw.Close())
		}
		done(f, w)
	}
	if !o.noGrads {
		f, w := create("grads.arrows")
		gw, err := runfmt.NewGradWriter(w, meta)
		check(err)
		for s := int64(0); s < fixtureSteps; s += 2 {
			check(gw.Write(tokenRows(s)))
		}
		check(gw.Close())
		done(f, w)
	}
	if !o.truncatePairs { // a finished run; a cut stream is a run still being written
		check(os.WriteFile(filepath.Join(dir, runfmt.DoneFile), []byte("1\n"), 0o644))
	}
}
