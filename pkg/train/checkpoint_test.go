package train

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entangle/pkg/loss"
	"entangle/pkg/model"
	"entangle/pkg/safetensors"
)

// TestConfigKeys: a run's config (config.json, a checkpoint's train_config,
// every stream's config metadata) has snake_case keys throughout, the loss
// parameters' too ("beta", "label_smoothing"; Go field names in
// format_version 1), and a checkpoint of format_version 1 with the old keys
// reads back to the same config.
func TestConfigKeys(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Mode, cfg.Steps, cfg.Init = ModePref, 3, "sft/model.safetensors"
	cfg.Model = model.Config{V: 64, T: 32, C: 16, L: 2, H: 2, Tied: true}
	cfg.Pref = &PrefConfig{Loss: "robust", Params: loss.Params{Beta: 0.1, LabelSmoothing: 0.2, NLLCoef: 0.3, DesirableWeight: 1, UndesirableWeight: 1.5}, Probe: 2}
	js := cfg.JSON()
	var keys func(v any)
	keys = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k != strings.ToLower(k) {
					t.Errorf("config key %q is not snake_case", k)
				}
				keys(x)
			}
		case []any:
			for _, x := range v {
				keys(x)
			}
		}
	}
	var tree any
	if err := json.Unmarshal([]byte(js), &tree); err != nil {
		t.Fatal(err)
	}
	keys(tree)
	if !strings.Contains(js, `"label_smoothing":0.2`) {
		t.Errorf("config %s", js)
	}
	// A version-1 checkpoint: loss parameters under Go field names.
	path := filepath.Join(t.TempDir(), "checkpoint.safetensors")
	if err := WriteCheckpoint(path, &Checkpoint{Model: cfg.Model, Params: make([]float32, model.NumParams(cfg.Model)), Train: cfg, Step: 1, Mode: cfg.Mode}); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.NewReplacer(`"beta"`, `"Beta"`, `"label_smoothing"`, `"LabelSmoothing"`, `"tau"`, `"Tau"`, `"gamma"`, `"Gamma"`, `"alpha"`, `"Alpha"`,
		`"lambda"`, `"Lambda"`, `"delta"`, `"Delta"`, `"nll_coef"`, `"NLLCoef"`, `"desirable_weight"`, `"DesirableWeight"`, `"undesirable_weight"`, `"UndesirableWeight"`)
	f.Meta["format_version"] = "1"
	f.Meta["train_config"] = old.Replace(f.Meta["train_config"])
	if !strings.Contains(f.Meta["train_config"], `"LabelSmoothing":0.2`) {
		t.Fatalf("the old form: %s", f.Meta["train_config"])
	}
	v1 := filepath.Join(t.TempDir(), "v1.safetensors")
	if err := safetensors.WriteFile(v1, f.Tensors, f.Meta); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, v1} {
		ck, err := ReadCheckpoint(p)
		if err != nil {
			t.Fatal(err)
		}
		if ck.Train.JSON() != js {
			t.Errorf("%s: train_config reads as %s\nwant %s", filepath.Base(p), ck.Train.JSON(), js)
		}
	}
	os.Remove(v1)
}
