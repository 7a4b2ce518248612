package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entangle/pkg/entangle"
	"entangle/pkg/loss"
	"entangle/pkg/model"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
)

// prefRun trains SFT on 1t, then returns a pref config starting from it.
func prefRun(t *testing.T, lossName string, mod func(*PrefConfig)) (Config, string) {
	t.Helper()
	d := data1t(t, 128)
	sft := filepath.Join(t.TempDir(), "sft")
	c := testConfig(t, d, 30)
	if err := Run(context.Background(), c, d, Options{Dir: sft, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	p, err := loss.Defaults(lossName)
	if err != nil {
		t.Fatal(err)
	}
	pc := &PrefConfig{Loss: lossName, Params: p, Probe: 4, DumpEvery: 4, Grads: "full", TokenGrads: 1}
	if mod != nil {
		mod(pc)
	}
	cfg := DefaultConfig()
	cfg.Mode, cfg.Init, cfg.Pref = ModePref, filepath.Join(sft, runfmt.ModelFile), pc
	cfg.Steps, cfg.Epochs, cfg.LR, cfg.MinLR, cfg.Warmup, cfg.Batch, cfg.EvalEvery = 12, 0, 1e-3, 0, 0, 8, 6
	if err := Prepare(&cfg, d); err != nil {
		t.Fatal(err)
	}
	return cfg, sft
}

func readPairs(t *testing.T, dir string) []runfmt.PairRow {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, runfmt.PairsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := runfmt.NewPairReader(f, runfmt.PairsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var rows []runfmt.PairRow
	for r.Next() {
		for _, row := range r.Rows() { // deep copies: the list columns are views of the batch
			rows = append(rows, row.Clone())
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestPrefRunOutputs(t *testing.T) {
	cfg, _ := prefRun(t, "sigmoid", nil)
	dir := filepath.Join(t.TempDir(), "dpo")
	if err := Run(context.Background(), cfg, data1t(t, 128), Options{Dir: dir, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	rows := readPairs(t, dir)
	train, probe := 0, 0
	for _, r := range rows {
		// The per-group dots sum to the totals, and the weights are DPO's (d_w = d_l).
		var s float64
		for _, v := range r.DotG {
			s += v
		}
		if math.Abs(s-r.Dot) > 1e-9*(math.Abs(r.Dot)+r.WW) {
			t.Fatalf("step %d pair %d: groups sum to %v, total %v", r.Step, r.Pair, s, r.Dot)
		}
		if r.DW != r.DL || r.CW != r.DW {
			t.Fatalf("DPO weights differ: %v %v %v", r.DW, r.DL, r.CW)
		}
		switch r.Kind {
		case "train":
			train++
		case "probe":
			probe++
			// First order: the observed change agrees with ⟨g, Δθ⟩ in sign when it is not tiny.
			obs := r.LogpWAfter - r.LogpW
			if math.Abs(r.PredW) > 1e-3 && math.Signbit(obs) != math.Signbit(r.PredW) {
				t.Fatalf("probe %d step %d: predicted %v, observed %v", r.Pair, r.Step, r.PredW, obs)
			}
		}
	}
	// 12 steps of 8 pairs; dumps at steps 1, 5, 9 with 4 probes each.
	if train != 96 || probe != 12 {
		t.Fatalf("%d train rows and %d probe rows, want 96 and 12", train, probe)
	}
	// The training loss falls: the mean of the last 4 steps is below the first 4's.
	var losses []float64
	for _, r := range readSteps(t, dir) {
		if r.Kind == "train" {
			losses = append(losses, r.Loss)
		}
	}
	mean := func(x []float64) float64 {
		s := 0.0
		for _, v := range x {
			s += v
		}
		return s / float64(len(x))
	}
	if a, b := mean(losses[:4]), mean(losses[len(losses)-4:]); !(b < a) {
		t.Fatalf("DPO training loss did not fall: %v -> %v (%v)", a, b, losses)
	}
	if _, err := os.Stat(filepath.Join(dir, runfmt.GradsFile)); err != nil {
		t.Fatal(err)
	}
}

func TestPrefNormalizedProbes(t *testing.T) {
	cfg, _ := prefRun(t, "sigmoid", func(pc *PrefConfig) { pc.Normalize, pc.Grads, pc.TokenGrads = true, "", 0 })
	cfg.Optim = "sgd"
	cfg.Batch = 1
	cfg.Clip = 0
	dir := filepath.Join(t.TempDir(), "norm")
	if err := Run(context.Background(), cfg, data1t(t, 128), Options{Dir: dir, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	for _, r := range readPairs(t, dir) {
		if r.Kind != "train" {
			continue
		}
		s := entangle.Pair(r.Dot, r.WW, r.LL, r.CW, r.CL)
		// With cw = w/‖g_w‖, cl = w/‖g_l‖: Δz_w = cw‖g_w‖² − cl⟨g_w,g_l⟩ ≥ 0.
		dW := r.CW*r.WW - r.CL*r.Dot
		dL := r.CW*r.Dot - r.CL*r.LL
		if dW < -1e-9*r.CW*r.WW || dL > 1e-9*r.CL*r.LL {
			t.Fatalf("normalized update moves pair %d the wrong way: ΔW %v ΔL %v (%v)", r.Pair, dW, dL, s.Case)
		}
	}
}

func TestPrefResumeBitIdentical(t *testing.T) {
	for _, update := range []bool{false, true} {
		t.Run(fmt.Sprintf("attrib-update=%v", update), func(t *testing.T) { prefResumeBitIdentical(t, update) })
	}
}

func prefResumeBitIdentical(t *testing.T, update bool) {
	cfg, _ := prefRun(t, "sigmoid", func(pc *PrefConfig) { pc.Attrib, pc.AttribUpdate = true, update })
	d := data1t(t, 128)
	full := filepath.Join(t.TempDir(), "full")
	if err := Run(context.Background(), cfg, d, Options{Dir: full, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(t.TempDir(), "part")
	ctx, cancel := context.WithCancel(context.Background())
	err := Run(ctx, cfg, d, Options{Dir: part, Quiet: true, AfterStep: func(s int) {
		if s == 6 {
			cancel()
		}
	}})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatal(err)
	}
	if err := Resume(context.Background(), d, Options{Dir: part, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{runfmt.ModelFile, runfmt.CheckpointFile, runfmt.PairsFile, runfmt.GradsFile, runfmt.AttribFile} {
		if !bytes.Equal(readFile(t, filepath.Join(full, f)), readFile(t, filepath.Join(part, f))) {
			t.Errorf("%s differs between the uninterrupted and the resumed run", f)
		}
	}
}

func readAttrib(t *testing.T, dir string) []runfmt.AttribRow {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, runfmt.AttribFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := runfmt.NewAttribReader(f, runfmt.AttribFile)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var rows []runfmt.AttribRow
	for r.Next() {
		rows = append(rows, r.Rows()...)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestPrefAttrib: -attrib leaves pairs.arrows bit-identical, writes one row
// per (dump step, probe, training pair), and under SGD without clipping the
// attribution adds up to the probes' first-order predictions:
// pred_w = ⟨g_w^p, Δθ⟩ = −lr⟨g_w^p, dst⟩ = lr·Σ_i (cw·ww − cl·wl)/B. Δθ is a
// float32 difference of parameters, so the match is to rounding of the
// update (relative 1e-3, with an absolute floor far below the predictions'
// size); a wrong sign, scale or missing pair is off by O(1).
func TestPrefAttrib(t *testing.T) {
	cfg, _ := prefRun(t, "sigmoid", func(pc *PrefConfig) { pc.Grads, pc.TokenGrads = "", 0 })
	cfg.Optim, cfg.Clip, cfg.LR = "sgd", 0, 0.05
	d := data1t(t, 128)
	plain := filepath.Join(t.TempDir(), "plain")
	if err := Run(context.Background(), cfg, d, Options{Dir: plain, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	pc := *cfg.Pref
	pc.Attrib = true
	cfg.Pref = &pc
	dir := filepath.Join(t.TempDir(), "attrib")
	if err := Run(context.Background(), cfg, d, Options{Dir: dir, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	pr, pa := readPairs(t, plain), readPairs(t, dir)
	if len(pr) != len(pa) {
		t.Fatalf("%d pair rows without -attrib, %d with", len(pr), len(pa))
	}
	for i := range pr {
		a, b := pr[i], pa[i]
		if a.Step != b.Step || a.Pair != b.Pair || a.Kind != b.Kind || math.Float64bits(a.LogpW) != math.Float64bits(b.LogpW) ||
			math.Float64bits(a.Dot) != math.Float64bits(b.Dot) || math.Float64bits(a.PredW) != math.Float64bits(b.PredW) ||
			math.Float64bits(a.LogpLAfter) != math.Float64bits(b.LogpLAfter) {
			t.Fatalf("pair row %d differs with -attrib: %+v vs %+v", i, a, b)
		}
	}
	lr := map[int64]float64{}
	for _, r := range readSteps(t, dir) {
		if r.Kind == "train" {
			lr[r.Step] = r.LR
		}
	}
	type key struct{ step, probe int64 }
	sumW, sumL, n := map[key]float64{}, map[key]float64{}, map[key]int{}
	rows := readAttrib(t, dir)
	// 12 steps, dumps at steps 1, 5, 9; 4 probes; batches of 8.
	if len(rows) != 3*4*8 {
		t.Fatalf("%d attribution rows, want %d", len(rows), 3*4*8)
	}
	for _, r := range rows {
		k := key{r.Step, r.Probe}
		sumW[k] += (r.CW*r.WW - r.CL*r.WL) / float64(r.Batch)
		sumL[k] += (r.CW*r.LW - r.CL*r.LL) / float64(r.Batch)
		n[k]++
	}
	checked := 0
	for _, p := range pa {
		if p.Kind != "probe" {
			continue
		}
		k := key{p.Step, p.Pair}
		if n[k] != 8 {
			t.Fatalf("step %d probe %d: %d attribution rows, want 8", p.Step, p.Pair, n[k])
		}
		for _, c := range []struct{ pred, sum float64 }{{p.PredW, sumW[k]}, {p.PredL, sumL[k]}} {
			got := lr[p.Step] * c.sum
			if math.Abs(got-c.pred) > 1e-3*math.Abs(c.pred)+1e-9 {
				t.Errorf("step %d probe %d: lr·Σ contrib = %v, pred = %v", p.Step, p.Pair, got, c.pred)
			}
		}
		checked++
	}
	if checked != 12 {
		t.Fatalf("checked %d probe rows, want 12", checked)
	}
}

// TestStepperConfigKL: kto_pair's batch reference point is asked of pkg/pref
// by capability, also when -nll wraps the loss (whose name is then
// "kto_pair+nll"), and not for other losses.
func TestStepperConfigKL(t *testing.T) {
	for _, c := range []struct {
		loss string
		nll  float64
		kl   bool
	}{{"kto_pair", 0, true}, {"kto_pair", 0.5, true}, {"sigmoid", 0, false}, {"ipo", 1, false}} {
		p, err := loss.Defaults(c.loss)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := stepperConfig(&PrefConfig{Loss: c.loss, Params: p, NLL: c.nll}, 1e-3)
		if err != nil {
			t.Fatal(err)
		}
		if sc.KL != c.kl {
			t.Errorf("%s -nll %v: KL %v, want %v", c.loss, c.nll, sc.KL, c.kl)
		}
	}
}

// TestPairsOut: Options.PairsOut (train -o) receives the bytes of pairs.arrows.
func TestPairsOut(t *testing.T) {
	cfg, _ := prefRun(t, "sigmoid", nil)
	d := data1t(t, 128)
	dir := filepath.Join(t.TempDir(), "run")
	var out bytes.Buffer
	if err := Run(context.Background(), cfg, d, Options{Dir: dir, Quiet: true, PairsOut: &out}); err != nil {
		t.Fatal(err)
	}
	if b := readFile(t, filepath.Join(dir, runfmt.PairsFile)); !bytes.Equal(out.Bytes(), b) {
		t.Fatalf("-o received %d bytes, pairs.arrows has %d", out.Len(), len(b))
	}
}

// TestPrefAttribUpdate: with -attrib-update under AdamW with clipping, every
// probe's pair shares plus its history term add up to its first-order
// prediction pred_w = ⟨g_w^p, Δθ⟩ (relative 1e-3: Δθ is a float32 difference
// of parameters and P⊙g^p is rounded to float32), the history term is
// present and nonzero after the first step, and pairs.arrows is
// row by row bit-identical to a run without attribution.
func TestPrefAttribUpdate(t *testing.T) {
	cfg, _ := prefRun(t, "sigmoid", func(pc *PrefConfig) { pc.Grads, pc.TokenGrads = "", 0 })
	cfg.Clip = 0.5
	d := data1t(t, 128)
	plain := filepath.Join(t.TempDir(), "plain")
	if err := Run(context.Background(), cfg, d, Options{Dir: plain, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	pc := *cfg.Pref
	pc.Attrib, pc.AttribUpdate = true, true
	cfg.Pref = &pc
	dir := filepath.Join(t.TempDir(), "attrib")
	if err := Run(context.Background(), cfg, d, Options{Dir: dir, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	pr, pa := readPairs(t, plain), readPairs(t, dir)
	if len(pr) != len(pa) {
		t.Fatalf("%d pair rows without -attrib-update, %d with", len(pr), len(pa))
	}
	for i := range pr {
		a, b := pr[i], pa[i]
		if a.Step != b.Step || a.Pair != b.Pair || math.Float64bits(a.LogpW) != math.Float64bits(b.LogpW) ||
			math.Float64bits(a.PredW) != math.Float64bits(b.PredW) || math.Float64bits(a.LogpLAfter) != math.Float64bits(b.LogpLAfter) {
			t.Fatalf("pair row %d differs with -attrib-update: %+v vs %+v", i, a, b)
		}
	}
	type key struct{ step, probe int64 }
	sumW, hist := map[key]float64{}, map[key]float64{}
	for _, r := range readAttrib(t, dir) {
		k := key{r.Step, r.Probe}
		sumW[k] += (r.CW*r.WW - r.CL*r.WL) / float64(r.Batch)
		hist[k] = r.HistW
	}
	if len(sumW) == 0 {
		t.Fatal("no attribution rows")
	}
	n := 0
	for _, p := range readPairs(t, dir) {
		k := key{p.Step, p.Pair}
		s, ok := sumW[k]
		if p.Kind != runfmt.KindProbe || !ok {
			continue
		}
		n++
		h := hist[k]
		if math.IsNaN(h) || (p.Step > 1 && h == 0) {
			t.Fatalf("step %d probe %d: history term %v", p.Step, p.Pair, h)
		}
		if got := s + h; math.Abs(got-p.PredW) > 1e-3*math.Abs(p.PredW)+1e-9 {
			t.Fatalf("step %d probe %d: shares + history = %.8g, pred_w = %.8g", p.Step, p.Pair, got, p.PredW)
		}
	}
	if n == 0 {
		t.Fatal("no probe rows matched the attribution")
	}
}

// TestPrefNonFiniteProbe: a probe that is non-finite at θ_before fails its
// step after the update was applied (pref.Step's probesAround: the model is
// put back at θ_before, the optimizer's state has moved). The run stops with
// the error and writes no checkpoint after it: the last one on disk is the
// state after the last complete step (-ckpt-every), consistent, and a
// resume from it with the probe mended gives the bytes of an uninterrupted
// run. The probe's token X, which no training pair holds, has a NaN input
// embedding (untied model) from step 3 on, so only the probes see it.
func TestPrefNonFiniteProbe(t *testing.T) {
	d := data1t(t, 128)
	inTrain := map[int32]bool{}
	for _, ex := range d.Examples {
		if ex.Split != "test" {
			for _, s := range [][]int32{ex.Prompt, ex.Chosen, ex.Rejected} {
				for _, tok := range s {
					inTrain[tok] = true
				}
			}
		}
	}
	var probe *prefdata.Example
	for i := range d.Examples {
		if d.Examples[i].Split == "test" {
			probe = &d.Examples[i]
			break
		}
	}
	X := int32(-1)
	for _, tok := range probe.Chosen {
		if !inTrain[tok] {
			X = tok
		}
	}
	if X < 0 {
		// make one: the test pairs' first chosen token becomes one no training pair has
		for tok := int32(d.Vocab.Size() - 1); tok >= 0 && X < 0; tok-- {
			if !inTrain[tok] {
				X = tok
			}
		}
		if X < 0 {
			t.Fatal("every token is in a training pair")
		}
		probe.Chosen[0] = X
	}
	sft := filepath.Join(t.TempDir(), "sft")
	c := testConfig(t, d, 30)
	c.Model.Tied = false
	if err := Run(context.Background(), c, d, Options{Dir: sft, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	p, _ := loss.Defaults("dpo")
	cfg := DefaultConfig()
	cfg.Mode, cfg.Init = ModePref, filepath.Join(sft, runfmt.ModelFile)
	cfg.Pref = &PrefConfig{Loss: "dpo", Params: p, Probe: 2, DumpEvery: 2, Ref: cfg.Init}
	cfg.Steps, cfg.Epochs, cfg.LR, cfg.MinLR, cfg.Warmup, cfg.Batch, cfg.EvalEvery, cfg.CkptEvery = 6, 0, 1e-3, 0, 0, 8, 0, 2
	if err := Prepare(&cfg, d); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(t.TempDir(), "full")
	if err := Run(context.Background(), cfg, d, Options{Dir: full, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	// The same run, with X's embedding poisoned after step 2 (its
	// checkpoint written): step 3 is a dump step whose probes are NaN.
	part := filepath.Join(t.TempDir(), "part")
	var m *model.Model[float32]
	var saved []float32
	err := Run(context.Background(), cfg, d, Options{Dir: part, Quiet: true, model: func(mm *model.Model[float32]) { m = mm }, AfterStep: func(s int) {
		if s == 2 {
			row := model.ViewOf(m.Params, cfg.Model, "wte")[int(X)*cfg.Model.C : int(X+1)*cfg.Model.C]
			saved = append(saved[:0], row...)
			for k := range row {
				row[k] = float32(math.NaN())
			}
		}
	}})
	if err == nil || !strings.Contains(err.Error(), "step 3: probe:") {
		t.Fatalf("the poisoned run: %v", err)
	}
	ck, err := ReadCheckpoint(filepath.Join(part, runfmt.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Step != 2 {
		t.Fatalf("the checkpoint after the failed step 3 is step %d's, want 2", ck.Step)
	}
	for _, v := range ck.Params {
		if v != v {
			t.Fatal("the checkpoint holds the poisoned embedding")
		}
	}
	if err := Resume(context.Background(), d, Options{Dir: part, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{runfmt.ModelFile, runfmt.CheckpointFile, runfmt.PairsFile} {
		if !bytes.Equal(readFile(t, filepath.Join(full, f)), readFile(t, filepath.Join(part, f))) {
			t.Errorf("%s differs between the uninterrupted run and the one resumed after the failed step", f)
		}
	}
}
