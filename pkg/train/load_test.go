package train

import (
	"context"
	"encoding/json"
	"entangle/pkg/loss"
	"entangle/pkg/runfmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"entangle/pkg/hfmodel"
	"entangle/pkg/model"
	"entangle/pkg/safetensors"
)

// validCheckpoint writes a tiny checkpoint with optimizer state and a gate
// and returns its decoded file.
func validCheckpoint(t testing.TB, dir string) (string, *safetensors.File) {
	cfg, _ := model.Preset("tiny")
	m := model.New[float32](cfg)
	m.Init(1)
	P := len(m.Params)
	tc := DefaultConfig()
	tc.Steps = 9
	ck := &Checkpoint{Model: cfg, Params: m.Params, Train: tc, Step: 4, Mode: ModeSFT,
		M: make([]float32, P), V: make([]float32, P), OptimT: 4, Gate: make([]float64, cfg.C+1)}
	path := filepath.Join(dir, "valid.safetensors")
	if err := WriteCheckpoint(path, ck); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, f
}

// TestReadCheckpointAdversarial: small files whose metadata or tensors lie
// must fail with one line naming the file, before any allocation sized by
// the lie (a config of 10⁸ layers or width 10⁹ used to allocate until the
// runtime aborted).
func TestReadCheckpointAdversarial(t *testing.T) {
	dir := t.TempDir()
	_, f := validCheckpoint(t, dir)
	config := func(mut func(c map[string]any)) func(meta map[string]string, ts []safetensors.Tensor) []safetensors.Tensor {
		return func(meta map[string]string, ts []safetensors.Tensor) []safetensors.Tensor {
			var c map[string]any
			json.Unmarshal([]byte(meta["config"]), &c)
			mut(c)
			b, _ := json.Marshal(c)
			meta["config"] = string(b)
			return ts
		}
	}
	tensor := func(name string, mut func(t *safetensors.Tensor)) func(meta map[string]string, ts []safetensors.Tensor) []safetensors.Tensor {
		return func(meta map[string]string, ts []safetensors.Tensor) []safetensors.Tensor {
			for i := range ts {
				if ts[i].Name == name {
					mut(&ts[i])
				}
			}
			return ts
		}
	}
	drop := func(name string) func(meta map[string]string, ts []safetensors.Tensor) []safetensors.Tensor {
		return func(meta map[string]string, ts []safetensors.Tensor) []safetensors.Tensor {
			return slices.DeleteFunc(ts, func(t safetensors.Tensor) bool { return t.Name == name })
		}
	}
	for _, tc := range []struct {
		name string
		mut  func(meta map[string]string, ts []safetensors.Tensor) []safetensors.Tensor
		want string
	}{
		{"layers 1e8", config(func(c map[string]any) { c["layers"] = 100000000 }), "layers must be at most"},
		{"layers 4000", config(func(c map[string]any) { c["layers"] = 4000 }), "needs at least 48004 tensors, the file holds"},
		{"layers 3", config(func(c map[string]any) { c["layers"] = 3 }), "needs at least 40 tensors, the file holds 32"},
		{"block tensor missing", drop("h.1.ln1.w"), `tensor "h.1.ln1.w" is missing`},
		{"width 1e9", config(func(c map[string]any) { c["width"] = 1e9 }), "width must be at most"},
		{"width 100000", config(func(c map[string]any) { c["width"] = 100000 }), `tensor "wte" has shape [64 16], want [64 100000]`},
		{"vocab 2^40", config(func(c map[string]any) { c["vocab_size"] = 1 << 40 }), "vocab_size must be at most"},
		{"context 0", config(func(c map[string]any) { c["context"] = 0 }), "context must be at least 2"},
		{"heads 3", config(func(c map[string]any) { c["heads"] = 3 }), "divisible by heads"},
		{"heads -1", config(func(c map[string]any) { c["heads"] = -1 }), "heads must be positive"},
		{"untied", config(func(c map[string]any) { c["tied"] = false }), `"lm_head.w" is missing`},
		{"config not json", func(meta map[string]string, ts []safetensors.Tensor) []safetensors.Tensor {
			meta["config"] = "{"
			return ts
		}, "bad model config"},
		{"step -1", func(meta map[string]string, ts []safetensors.Tensor) []safetensors.Tensor {
			meta["step"] = "-1"
			return ts
		}, "bad step"},
		{"wte F16", tensor("wte", func(t *safetensors.Tensor) {
			v := make([]float32, 64*16)
			*t = safetensors.Floats("wte", "F16", t.Shape, v)
		}), `"wte" has dtype F16, want F32`},
		{"optim.m short", tensor("optim.m", func(t *safetensors.Tensor) { t.Shape, t.Data = []int{3}, t.Data[:12] }), `"optim.m" has dtype F32 shape [3]`},
		{"optim.t missing", drop("optim.t"), "missing or bad optim.t"},
		{"optim.t F64", tensor("optim.t", func(t *safetensors.Tensor) { t.DType = "F64" }), "missing or bad optim.t"},
		{"gate short", tensor("pref.gate", func(t *safetensors.Tensor) { t.Shape, t.Data = []int{2}, t.Data[:16] }), "bad pref.gate"},
		{"wpe missing", drop("wpe"), `tensor "wpe" is missing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := map[string]string{}
			for k, v := range f.Meta {
				meta[k] = v
			}
			ts := tc.mut(meta, slices.Clone(f.Tensors))
			p := filepath.Join(t.TempDir(), "bad.safetensors")
			if err := safetensors.WriteFile(p, ts, meta); err != nil {
				t.Fatal(err)
			}
			for _, read := range []func(string) error{
				func(p string) error { _, err := ReadCheckpoint(p); return err },
				func(p string) error { _, err := ReadCheckpointConfig(p); return err },
			} {
				err := read(p)
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err %v, want one line naming %s and containing %q", err, p, tc.want)
				}
			}
		})
	}
}

// FuzzCheckpointMeta fuzzes the config metadata of a valid checkpoint:
// ReadCheckpoint must fail cleanly or return parameters of the config's size.
func FuzzCheckpointMeta(f *testing.F) {
	dir := f.TempDir()
	_, file := validCheckpoint(f, dir)
	f.Add(file.Meta["config"], file.Meta["step"])
	f.Add(`{"vocab_size":64,"context":32,"width":16,"layers":100000000,"heads":2,"tied":true}`, "0")
	f.Add(`{"vocab_size":64,"context":32,"width":1000000000,"layers":2,"heads":2,"tied":true}`, "1")
	f.Add(`{"vocab_size":64,"context":-32,"width":16,"layers":2,"heads":2,"tied":false}`, "x")
	n := 0
	f.Fuzz(func(t *testing.T, config, step string) {
		meta := map[string]string{}
		for k, v := range file.Meta {
			meta[k] = v
		}
		meta["config"], meta["step"] = config, step
		n++
		p := filepath.Join(dir, "fuzz.safetensors")
		if err := safetensors.WriteFile(p, file.Tensors, meta); err != nil {
			return // not valid UTF-8
		}
		ck, err := ReadCheckpoint(p)
		if err != nil {
			return
		}
		if len(ck.Params) != model.NumParams(ck.Model) {
			t.Fatalf("config %s: %d params, want %d", config, len(ck.Params), model.NumParams(ck.Model))
		}
	})
}

// writeHFDir writes a random tiny GPT-2 model directory of vocabulary V.
func writeHFDir(t *testing.T, dir string, V int, dtype string) model.Config {
	t.Helper()
	cfg := model.Config{V: V, T: 32, C: 16, L: 2, H: 2, Tied: true}
	m := model.New[float32](cfg)
	m.Init(3)
	if err := hfmodel.Write(dir, "gpt2", cfg, m.Params, dtype); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestInitFromHFDir trains from a Hugging Face model directory (-init DIR),
// refuses a dataset of another vocabulary size, and checks -ref DIR.
func TestInitFromHFDir(t *testing.T) {
	d := data1t(t, 64)
	dir := t.TempDir()
	hf := filepath.Join(dir, "gpt2-tiny")
	cfg := writeHFDir(t, hf, d.Vocab.Size(), "F32")
	c := DefaultConfig()
	c.Init, c.Steps, c.Epochs, c.EvalEvery, c.Batch = hf, 2, 0, 0, 8
	if err := Prepare(&c, d); err != nil {
		t.Fatal(err)
	}
	if c.Model != cfg {
		t.Fatalf("Prepare: model %+v, want %+v", c.Model, cfg)
	}
	run := filepath.Join(dir, "run")
	if err := Run(context.Background(), c, d, Options{Dir: run}); err != nil {
		t.Fatal(err)
	}
	if got := HFAncestor(filepath.Join(run, runfmt.ModelFile)); got != hf {
		t.Errorf("HFAncestor = %q, want %q", got, hf)
	}
	// A model directory of another vocabulary size: refused by name.
	other := filepath.Join(dir, "gpt2-v80")
	writeHFDir(t, other, 80, "BF16")
	c2 := DefaultConfig()
	c2.Init, c2.Steps, c2.Epochs = other, 2, 0
	err := Prepare(&c2, d)
	if err == nil || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "vocabulary has 80 tokens but the dataset's has 64") {
		t.Fatalf("vocab mismatch: err %v", err)
	}
	// -ref with another config is refused in Prepare, before training.
	c3 := DefaultConfig()
	c3.Mode, c3.Init, c3.Steps, c3.Epochs = ModePref, hf, 2, 0
	params, err := loss.Defaults("sigmoid")
	if err != nil {
		t.Fatal(err)
	}
	c3.Pref = &PrefConfig{Ref: other, Loss: "sigmoid", Params: params} // valid but for the reference
	if err := Prepare(&c3, d); err == nil || !strings.Contains(err.Error(), "reference "+other) {
		t.Fatalf("-ref of another config: err %v", err)
	}
	// A broken directory: one line naming the file.
	broken := filepath.Join(dir, "broken")
	os.MkdirAll(broken, 0o755)
	os.WriteFile(filepath.Join(broken, hfmodel.ConfigFile), []byte(`{"model_type":"bloom"}`), 0o644)
	if _, err := ReadCheckpoint(broken); err == nil || !strings.Contains(err.Error(), `model_type "bloom" is not supported`) {
		t.Fatalf("bloom dir: err %v", err)
	}
}
