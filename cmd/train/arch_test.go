package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/runfmt"
	"entangle/pkg/train"
)

// TestArchFromScratch: -model tiny with -arch and the family flags builds
// each family from nothing: the run's config is the family's, SFT lowers the
// training loss, a DPO run starts from its model.safetensors, and
// -export-hf writes a directory that -init reads back as the same model.
// The flags' usage errors, and the real-shape presets' configs.
func TestArchFromScratch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := dataset(t, dir, "1t", 64)
	for _, tc := range []struct {
		name string
		args []string
		want model.Config
	}{
		{"gpt2", nil, model.Config{V: 64, T: 32, C: 16, L: 2, H: 2, Tied: true}},
		{"neox", []string{"-arch", "neox", "-rotary-dims", "4", "-untied"},
			model.Config{V: 64, T: 32, C: 16, L: 2, H: 2, Arch: model.ArchNeoX, Rotary: 4}},
		{"neox-sequential", []string{"-arch", "neox", "-sequential", "-mlp-width", "40"},
			model.Config{V: 64, T: 32, C: 16, L: 2, H: 2, Tied: true, Arch: model.ArchNeoX, Sequential: true, FF: 40}},
		{"llama", []string{"-arch", "llama", "-heads", "4", "-kv-heads", "2", "-mlp-width", "24", "-rope-theta", "100000"},
			model.Config{V: 64, T: 32, C: 16, L: 2, H: 4, Tied: true, Arch: model.ArchLlama, KV: 2, FF: 24, RopeTheta: 100000}},
		{"qwen2", []string{"-arch", "llama", "-qkv-bias", "-untied"},
			model.Config{V: 64, T: 32, C: 16, L: 2, H: 2, Arch: model.ArchLlama, QKVBias: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sft := filepath.Join(dir, tc.name)
			args := append([]string{"-model", "tiny", "-steps", "30", "-lr", "3e-3", "-eval-every", "0", "-q", "-out", sft}, tc.args...)
			if _, stderr, code := trainCmd(t, ctx, nil, append(args, data)...); code != 0 {
				t.Fatalf("sft: exit %d: %s", code, stderr)
			}
			ck, err := train.ReadCheckpoint(filepath.Join(sft, runfmt.ModelFile))
			if err != nil {
				t.Fatal(err)
			}
			if ck.Model != tc.want {
				t.Fatalf("model config %+v, want %+v", ck.Model, tc.want)
			}
			first, last := trainLosses(t, filepath.Join(sft, runfmt.StepsFile))
			if !(last < first-0.1) {
				t.Errorf("training loss %.3f → %.3f: SFT did not learn", first, last)
			}
			init := filepath.Join(sft, runfmt.ModelFile)
			if _, stderr, code := trainCmd(t, ctx, nil, "-mode", "pref", "-init", init, "-steps", "2", "-batch", "4", "-probe", "2", "-dump-every", "1",
				"-eval-every", "0", "-q", "-out", filepath.Join(dir, tc.name+"-dpo"), data); code != 0 {
				t.Fatalf("pref: exit %d: %s", code, stderr)
			}
			hf := filepath.Join(dir, tc.name+"-hf")
			if _, stderr, code := trainCmd(t, ctx, nil, "-export-hf", hf, "-init", init); code != 0 {
				t.Fatalf("-export-hf: exit %d: %s", code, stderr)
			}
			back := filepath.Join(dir, tc.name+"-back")
			if _, stderr, code := trainCmd(t, ctx, nil, "-init", hf, "-steps", "1", "-lr", "1e-9", "-min-lr", "0", "-eval-every", "0", "-q", "-out", back, data); code != 0 {
				t.Fatalf("-init the export: exit %d: %s", code, stderr)
			}
			bk, err := train.ReadCheckpoint(filepath.Join(back, runfmt.ModelFile))
			if err != nil {
				t.Fatal(err)
			}
			if bk.Model.Normalize() != tc.want.Normalize() {
				t.Errorf("the export reads back as %+v, want %+v", bk.Model, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-arch", "bert"}, "-arch must be gpt2, neox or llama"},
		{[]string{"-kv-heads", "1"}, "-kv-heads needs -arch llama"},
		{[]string{"-arch", "neox", "-kv-heads", "1"}, "-kv-heads needs -arch llama"},
		{[]string{"-arch", "llama", "-sequential"}, "-sequential needs -arch neox"},
		{[]string{"-rope-theta", "5e5"}, "-rope-theta needs -arch neox,llama"},
		{[]string{"-arch", "llama", "-kv-heads", "3", "-heads", "4"}, "kv_heads must divide heads"},
		{[]string{"-arch", "neox", "-rotary-dims", "3"}, "rotary_dims"},
		{[]string{"-arch", "llama", "-mlp-width", "0"}, "-mlp-width must be at least 1"},
		{[]string{"-model", "pythia-160m", "-arch", "llama"}, "-arch llama conflicts with the -model preset"},
		{[]string{"-init", "x", "-arch", "llama"}, "-arch conflicts with -init"},
	} {
		_, stderr, code := trainCmd(t, ctx, nil, append(tc.args, "-steps", "1", "-q", "-out", filepath.Join(dir, "bad"), data)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}

	// the real-shape presets: their parameter counts are the published models'
	for name, want := range map[string]int{"pythia-160m": 162322944, "smollm2-135m": 134515008} {
		cfg, err := model.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := model.NumParams(cfg); got != want {
			t.Errorf("%s: %d parameters, want %d", name, got, want)
		}
	}
}

// trainLosses returns the mean training loss of the first and last 5 steps of a steps.arrows.
func trainLosses(t *testing.T, path string) (first, last float64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := runfmt.NewStepReader(f, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var ls []float64
	for r.Next() {
		for _, row := range r.Rows() {
			if row.Kind == "train" {
				ls = append(ls, row.Loss)
			}
		}
	}
	if len(ls) < 10 {
		t.Fatalf("%d training rows", len(ls))
	}
	for _, v := range ls[:5] {
		first += v / 5
	}
	for _, v := range ls[len(ls)-5:] {
		last += v / 5
	}
	return first, last
}
