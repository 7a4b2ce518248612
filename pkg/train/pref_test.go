package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"entangle/pkg/entangle"
	"entangle/pkg/loss"
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
	cfg.Mode, cfg.Init, cfg.Pref = ModePref, filepath.Join(sft, ModelFile), pc
	cfg.Steps, cfg.Epochs, cfg.LR, cfg.MinLR, cfg.Warmup, cfg.Batch, cfg.EvalEvery = 12, 0, 1e-3, 0, 0, 8, 6
	if err := Prepare(&cfg, d); err != nil {
		t.Fatal(err)
	}
	return cfg, sft
}

func readPairs(t *testing.T, dir string) []runfmt.PairRow {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, PairsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := runfmt.NewPairReader(f, PairsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var rows []runfmt.PairRow
	for r.Next() {
		rows = copyRows(rows, r.Rows(), -1, "")
		for i := len(rows) - len(r.Rows()); i < len(rows); i++ {
			rows[i].Step, rows[i].Kind = r.Rows()[i-len(rows)+len(r.Rows())].Step, r.Rows()[i-len(rows)+len(r.Rows())].Kind
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
	if _, err := os.Stat(filepath.Join(dir, GradsFile)); err != nil {
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
	cfg, _ := prefRun(t, "sigmoid", nil)
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
	for _, f := range []string{ModelFile, CheckpointFile, PairsFile, GradsFile} {
		if !bytes.Equal(readFile(t, filepath.Join(full, f)), readFile(t, filepath.Join(part, f))) {
			t.Errorf("%s differs between the uninterrupted and the resumed run", f)
		}
	}
}
