package train

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"entangle/pkg/hfmodel"
	"entangle/pkg/model"
	"entangle/pkg/runfmt"
)

// loraRun returns a LoRA DPO config on an SFT model of the 1t data (q and v
// row blocks of a Llama-style model written as a Hugging Face directory, so
// the family's names apply), and the base directory.
func loraRun(t *testing.T, steps int) (Config, string) {
	t.Helper()
	d := data1t(t, 64)
	base := filepath.Join(t.TempDir(), "base")
	mc := model.Config{Arch: model.ArchLlama, V: 64, T: 64, C: 16, L: 2, H: 4, KV: 2, FF: 24, Tied: true}
	m := model.New[float32](mc)
	m.Init(3)
	for i := range m.Params {
		m.Params[i] *= 5 // gradients of ordinary size
	}
	if err := hfmodel.Write(base, "llama", mc, m.Params, "F32"); err != nil {
		t.Fatal(err)
	}
	cfg, _ := prefRun(t, "dpo", func(pc *PrefConfig) { pc.Grads, pc.DumpEvery, pc.Probe, pc.TokenGrads = "", 2, 2, 0 })
	cfg.Init, cfg.Steps, cfg.CkptEvery, cfg.EvalEvery = base, steps, 0, 2
	cfg.LoRA = &LoRAConfig{R: 2, Alpha: 4, Modules: []string{"q_proj", "v_proj"}}
	cfg.LR = 1e-2
	if err := Prepare(&cfg, d); err != nil {
		t.Fatal(err)
	}
	return cfg, base
}

// TestLoRARun: a LoRA DPO run changes only the adapted rows of the model;
// its adapter directory loads (peft layout) and merges to model.safetensors
// bit for bit; pairs.arrows carries the model's groups (summing to the
// totals) and the adapter groups (Of "lora", nonzero); the reference is the
// base model (log-probs at step 1 equal the reference: B starts at zero);
// a run interrupted after step 2 resumes to the same bytes; GOMAXPROCS 1
// gives the same bytes.
func TestLoRARun(t *testing.T) {
	cfg, base := loraRun(t, 4)
	d := data1t(t, 64)
	full := filepath.Join(t.TempDir(), "full")
	if err := Run(context.Background(), cfg, d, Options{Dir: full, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	hb, err := hfmodel.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	final, err := ReadCheckpoint(filepath.Join(full, runfmt.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	sites, _ := cfg.LoRA.sites(cfg.Model)
	adapted := make([]bool, len(hb.Params))
	for _, tt := range model.Tensors(cfg.Model) {
		for _, s := range sites {
			if s.Tensor == tt.Name {
				for i := tt.Offset + s.Row0*s.In; i < tt.Offset+(s.Row0+s.Out)*s.In; i++ {
					adapted[i] = true
				}
			}
		}
	}
	changed := 0
	for i := range hb.Params {
		if final.Params[i] != hb.Params[i] {
			if !adapted[i] {
				t.Fatalf("parameter %d outside the adapted rows changed", i)
			}
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("the adapters did not change the model")
	}
	m := model.New[float32](cfg.Model)
	copy(m.Params, hb.Params)
	a, lc, err := hfmodel.LoadLoRA(filepath.Join(full, runfmt.AdapterDir), "llama", m)
	if err != nil {
		t.Fatal(err)
	}
	if lc.Base != base || lc.R != 2 || lc.Alpha != 4 {
		t.Errorf("adapter_config.json: %+v", lc)
	}
	a.Merge()
	if !slices.Equal(m.Params, final.Params) {
		t.Error("the adapter directory merged on the base is not model.safetensors")
	}
	ck, err := ReadCheckpoint(filepath.Join(full, runfmt.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ck.Params, hb.Params) || !slices.Equal(ck.LoRA, a.Params) || len(ck.M) != len(a.Params) {
		t.Error("checkpoint: base weights, lora.params or adapter moments wrong")
	}
	// The checkpoint is no starting point or reference: its weights are the
	// base (the adapters are apart), so -init or -ref of it is refused.
	next, _ := prefRun(t, "dpo", func(pc *PrefConfig) { pc.Grads, pc.Probe, pc.TokenGrads = "", 0, 0 })
	next.Model, next.Steps = cfg.Model, 1
	for _, c := range []struct{ init, ref string }{
		{filepath.Join(full, runfmt.CheckpointFile), ""},
		{filepath.Join(full, runfmt.ModelFile), filepath.Join(full, runfmt.CheckpointFile)},
	} {
		nc := next
		nc.Init = c.init
		nc.Pref.Ref = c.ref
		err := Run(context.Background(), nc, d, Options{Dir: filepath.Join(t.TempDir(), "next"), Quiet: true})
		if err == nil || !strings.Contains(err.Error(), "LoRA run's base weights") {
			t.Errorf("-init %s -ref %q: err %v, want the LoRA checkpoint refused", c.init, c.ref, err)
		}
	}

	rows := readPairs(t, full)
	meta := readPairsMeta(t, full)
	G := len(model.Tensors(cfg.Model))
	if len(meta.Groups) != G+2*len(sites) || meta.Groups[G].Of != runfmt.GroupsLoRA || meta.Groups[G-1].Of != "" {
		t.Fatalf("groups %+v", meta.Groups[G-1:])
	}
	for _, r := range rows {
		var dot, ww, lww float64
		for g := range r.DotG {
			if g < G {
				dot += r.DotG[g]
				ww += r.WWG[g]
			} else {
				lww += r.WWG[g]
			}
		}
		if math.Abs(dot-r.Dot) > 1e-9*math.Sqrt(r.WW*r.LL) || math.Abs(ww-r.WW) > 1e-9*r.WW || !(lww > 0) {
			t.Fatalf("step %d pair %d: model groups do not sum to the totals, or adapter norms zero (%g)", r.Step, r.Pair, lww)
		}
		if r.Step == 1 && r.Kind == runfmt.KindTrain && (r.LogpW != r.RefW || r.LogpL != r.RefL) {
			t.Fatalf("step 1: logp %g, %g differ from the reference %g, %g (B = 0: the policy is the base)", r.LogpW, r.LogpL, r.RefW, r.RefL)
		}
	}

	part := filepath.Join(t.TempDir(), "part")
	ctx, cancel := context.WithCancel(context.Background())
	err = Run(ctx, cfg, d, Options{Dir: part, Quiet: true, AfterStep: func(s int) {
		if s == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: %v", err)
	}
	if err := Resume(context.Background(), d, Options{Dir: part, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	sameRun(t, full, part)

	prev := runtime.GOMAXPROCS(1)
	one := filepath.Join(t.TempDir(), "one")
	err = Run(context.Background(), cfg, d, Options{Dir: one, Quiet: true})
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	sameRun(t, full, one)
}

func readPairsMeta(t *testing.T, dir string) runfmt.Meta {
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
	return r.Meta()
}

// TestLoRAMemory: the estimate of a LoRA pref run has the adapters' moments
// instead of the model's and no reference model, plus the adapters, their
// gradient and the copy of the adapted rows (r 2 on q and v of a Llama
// model: per layer 2·(2·(16+16)) adapter parameters, 2·16·16 rows).
func TestLoRAMemory(t *testing.T) {
	mc := model.Config{Arch: model.ArchLlama, V: 64, T: 64, C: 16, L: 2, H: 4, KV: 4, FF: 24, Tied: true}
	cfg := Config{Mode: ModePref, Model: mc, Optim: OptimAdamW, Pref: &PrefConfig{}}
	full := MemoryNeed(&cfg, 32)
	cfg.LoRA = &LoRAConfig{R: 2, Alpha: 4, Modules: []string{"q_proj", "v_proj"}}
	lm := MemoryNeed(&cfg, 32)
	P := 4 * float64(model.NumParams(mc))
	A, R := 4*float64(2*2*2*(16+16)), 4*float64(2*2*16*16)
	if lm.Optim != 2*A || lm.Params != full.Params-P+A+R || lm.Grads != full.Grads+A || lm.Pref != full.Pref+2*A*float64(lm.LaneCount) {
		t.Errorf("LoRA estimate %+v, full %+v (P %g, A %g, R %g)", lm, full, P, A, R)
	}
}
