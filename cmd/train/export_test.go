package main

import (
	"bytes"
	"context"
	"entangle/pkg/runfmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"entangle/pkg/hfmodel"
	"entangle/pkg/model"
	"entangle/pkg/safetensors"
	"entangle/pkg/train"
)

func TestExportHF(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := dataset(t, dir, "1t", 64)
	run := filepath.Join(dir, "run")
	if _, stderr, code := trainCmd(t, ctx, nil, "-model", "tiny", "-steps", "2", "-eval-every", "0", "-q", "-out", run, data); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	// A run's weights → a model directory → the same parameters.
	out := filepath.Join(dir, "hf")
	_, stderr, code := trainCmd(t, ctx, nil, "-export-hf", out, "-init", filepath.Join(run, runfmt.ModelFile))
	if code != 0 || !strings.Contains(stderr, "no tokenizer files") {
		t.Fatalf("-export-hf: exit %d: %s", code, stderr)
	}
	ck, err := train.ReadCheckpoint(filepath.Join(run, runfmt.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := hfmodel.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config != ck.Model || !slices.Equal(m.Params, ck.Params) {
		t.Fatal("exported directory does not load back to the run's weights")
	}
	// A model directory in F16, with tokenizer files, through train -init
	// DIR and -export-hf in F16: the same weight bytes, the tokenizer files
	// carried over.
	src := filepath.Join(dir, "src")
	cfg := model.Config{V: 64, T: 32, C: 16, L: 2, H: 2, Tied: true}
	mm := model.New[float32](cfg)
	mm.Init(9)
	if err := hfmodel.Write(src, "gpt2", cfg, mm.Params, "F16"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "vocab.json"), []byte(`{"a":0}`), 0o644)
	os.WriteFile(filepath.Join(src, "merges.txt"), []byte("#version: 0.2\n"), 0o644)
	out2 := filepath.Join(dir, "hf16")
	_, stderr, code = trainCmd(t, ctx, nil, "-export-hf", out2, "-export-dtype", "f16", "-init", src)
	if code != 0 || !strings.Contains(stderr, "vocab.json, merges.txt") {
		t.Fatalf("-export-hf F16: exit %d: %s", code, stderr)
	}
	for _, f := range []string{hfmodel.WeightsFile, "vocab.json", "merges.txt"} {
		if !bytes.Equal(mustRead(t, filepath.Join(src, f)), mustRead(t, filepath.Join(out2, f))) {
			t.Errorf("%s differs after the F16 round trip", f)
		}
	}
	// A run trained from the directory exports with its tokenizer files.
	run2 := filepath.Join(dir, "run2")
	if _, stderr, code := trainCmd(t, ctx, nil, "-init", src, "-steps", "1", "-eval-every", "0", "-q", "-out", run2, data); code != 0 {
		t.Fatalf("train -init DIR: exit %d: %s", code, stderr)
	}
	out3 := filepath.Join(dir, "hf3")
	if _, stderr, code := trainCmd(t, ctx, nil, "-export-hf", out3, "-init", filepath.Join(run2, runfmt.ModelFile)); code != 0 || !strings.Contains(stderr, "tokenizer files from "+src) {
		t.Fatalf("-export-hf of a run from a directory: exit %d: %s", code, stderr)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-export-hf", filepath.Join(dir, "x")}, "needs -init"},
		{[]string{"-export-hf", filepath.Join(dir, "x"), "-init", src, data}, "reads no dataset"},
		{[]string{"-export-hf", filepath.Join(dir, "x"), "-init", src, "-steps", "3"}, "-steps does not apply to -export-hf"},
		{[]string{"-export-hf", filepath.Join(dir, "x"), "-init", src, "-export-dtype", "F8"}, "-export-dtype must be F32, F16 or BF16"},
		{[]string{"-export-hf", out2, "-init", src}, "is not empty"},
		{[]string{"-export-dtype", "F16", "-out", filepath.Join(dir, "y"), data}, "applies to -export-hf only"},
	} {
		_, stderr, code := trainCmd(t, ctx, nil, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	// Bad weights are a data error naming the file.
	if _, stderr, code := trainCmd(t, ctx, nil, "-export-hf", filepath.Join(dir, "z"), "-init", data); code != 1 || !strings.Contains(stderr, data) {
		t.Errorf("-init of a dataset: exit %d, stderr %q", code, stderr)
	}
	// -mode dist scores with a model directory whose vocabulary is the dataset's, and refuses another.
	if out, stderr, code := trainCmd(t, ctx, nil, "-mode", "dist", "-init", src, "-pairs", "1", data); code != 0 || out == "" {
		t.Errorf("-mode dist -init DIR: exit %d, stderr %q", code, stderr)
	}
	v80 := filepath.Join(dir, "v80")
	c80 := cfg
	c80.V = 80
	if err := hfmodel.Write(v80, "gpt2", c80, make([]float32, model.NumParams(c80)), "F32"); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := trainCmd(t, ctx, nil, "-mode", "dist", "-init", v80, data); code != 1 || !strings.Contains(stderr, "vocabulary has 80 tokens but the dataset's has 64") {
		t.Errorf("-mode dist -init DIR of another vocabulary: exit %d, stderr %q", code, stderr)
	}
	// A preset that cannot fit is a usage error with both figures.
	t.Setenv(train.MemoryEnv, "1G")
	if _, stderr, code := trainCmd(t, ctx, nil, "-model", "tiny", "-width", "4096", "-out", filepath.Join(dir, "w"), data); code != 2 ||
		!strings.Contains(stderr, "needs about") || !strings.Contains(stderr, "1.0 GiB is available ($ENTANGLE_MEMORY") {
		t.Errorf("-width 4096 with 1G: exit %d, stderr %q", code, stderr)
	}
}

// TestLyingCheckpoint: a small checkpoint whose config claims 10⁸ layers (or
// a width the tensors do not have) is refused by -init, -ref and -resume
// with one line naming it, before anything is allocated from the claim.
func TestLyingCheckpoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := dataset(t, dir, "1t", 64)
	run := filepath.Join(dir, "run")
	if _, stderr, code := trainCmd(t, ctx, nil, "-model", "tiny", "-steps", "2", "-eval-every", "0", "-q", "-out", run, data); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	for _, tc := range []struct{ key, val, want string }{
		{"layers", "100000000", "layers must be at most 4096"},
		{"width", "1000000000", "width must be at most 131072"},
		{"width", "100000", `tensor "wte" has shape [64 16], want [64 100000]`},
	} {
		for _, file := range []string{runfmt.ModelFile, runfmt.CheckpointFile} {
			f, err := safetensors.ReadFile(filepath.Join(run, file))
			if err != nil {
				t.Fatal(err)
			}
			meta := map[string]string{}
			for k, v := range f.Meta {
				meta[k] = v
			}
			meta["config"] = strings.Replace(meta["config"], `"`+tc.key+`":`+map[string]string{"layers": "2", "width": "16"}[tc.key], `"`+tc.key+`":`+tc.val, 1)
			bad := filepath.Join(dir, "bad-"+tc.key+tc.val)
			os.MkdirAll(bad, 0o755)
			path := filepath.Join(bad, file)
			if err := safetensors.WriteFile(path, f.Tensors, meta); err != nil {
				t.Fatal(err)
			}
			var args []string
			switch file {
			case runfmt.ModelFile:
				for _, args := range [][]string{
					{"-init", path, "-out", filepath.Join(dir, "x"), data},
					{"-mode", "pref", "-init", filepath.Join(run, runfmt.ModelFile), "-ref", path, "-out", filepath.Join(dir, "x"), data},
				} {
					_, stderr, code := trainCmd(t, ctx, nil, args...)
					if code != 1 || !strings.Contains(stderr, path) || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
						t.Errorf("%v: exit %d, stderr %q, want 1 and one line with %q", args, code, stderr, tc.want)
					}
				}
				continue
			default:
				args = []string{"-resume", bad, data}
			}
			_, stderr, code := trainCmd(t, ctx, nil, args...)
			if code != 1 || !strings.Contains(stderr, path) || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%v: exit %d, stderr %q, want 1 and one line with %q", args, code, stderr, tc.want)
			}
		}
	}
}

// TestExportMistral: the weights of a run trained from a mistral model
// directory export as mistral (config.json model_type, MistralForCausalLM),
// also once the directory is gone: the run's files record the family
// (metadata model_type); without it the same weights would be written as
// llama (the same computation, another family). Loaded back, the model
// config and weights are the run's.
func TestExportMistral(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := dataset(t, dir, "1t", 64)
	src := filepath.Join(dir, "mistral")
	cfg := model.Config{V: 64, T: 32, C: 16, L: 2, H: 2, KV: 1, FF: 32, Arch: model.ArchLlama, Eps: 1e-5, RopeTheta: 10000}
	mm := model.New[float32](cfg)
	mm.Init(5)
	if err := hfmodel.Write(src, "mistral", cfg, mm.Params, "F32"); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	if _, stderr, code := trainCmd(t, ctx, nil, "-init", src, "-steps", "1", "-eval-every", "0", "-q", "-out", run, data); code != 0 {
		t.Fatalf("train -init mistral: exit %d: %s", code, stderr)
	}
	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "hf")
	if _, stderr, code := trainCmd(t, ctx, nil, "-export-hf", out, "-init", filepath.Join(run, runfmt.ModelFile)); code != 0 {
		t.Fatalf("-export-hf: exit %d: %s", code, stderr)
	}
	m, err := hfmodel.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := train.ReadCheckpoint(filepath.Join(run, runfmt.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	raw := string(mustRead(t, filepath.Join(out, hfmodel.ConfigFile)))
	if m.Family != "mistral" || !strings.Contains(raw, "MistralForCausalLM") || m.Config != ck.Model || !slices.Equal(m.Params, ck.Params) || ck.Family != "mistral" {
		t.Fatalf("exported as %q (checkpoint family %q), config %+v, want mistral and %+v", m.Family, ck.Family, m.Config, ck.Model)
	}
}
