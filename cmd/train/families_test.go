package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"entangle/pkg/hfmodel"
	"entangle/pkg/model"
	"entangle/pkg/runfmt"
	"entangle/pkg/train"
)

// TestFamiliesCLI: tiny random GPT-NeoX, Llama and Qwen2 directories work as
// -init for SFT and as -init and -ref for a preference run, and -export-hf
// of each run writes a directory of the same family that loads back to the
// run's weights. A NeoX directory with padding rows beyond its tokenizer
// takes a dataset of the tokenizer's size.
func TestFamiliesCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := dataset(t, dir, "1t", 64)
	for _, tc := range []struct {
		mt  string
		cfg model.Config
		pad bool // V 72 with a 64-token tokenizer.json
	}{
		{"gpt_neox", model.Config{Arch: model.ArchNeoX, V: 72, T: 64, C: 16, L: 2, H: 2, Rotary: 4}, true},
		{"llama", model.Config{Arch: model.ArchLlama, V: 64, T: 64, C: 16, L: 2, H: 4, KV: 2, FF: 24, RopeTheta: 100000, Tied: true}, false},
		{"qwen2", model.Config{Arch: model.ArchLlama, V: 64, T: 64, C: 16, L: 1, H: 2, KV: 1, FF: 24, Eps: 1e-6, RopeTheta: 1e6, QKVBias: true}, false},
	} {
		t.Run(tc.mt, func(t *testing.T) {
			src := filepath.Join(dir, tc.mt)
			m := model.New[float32](tc.cfg)
			m.Init(5)
			if err := hfmodel.Write(src, tc.mt, tc.cfg, m.Params, "BF16"); err != nil {
				t.Fatal(err)
			}
			if tc.pad {
				vocab := map[string]int{}
				for i := range 64 {
					vocab[string(rune('a'+i))] = i
				}
				b, _ := json.Marshal(map[string]any{"model": map[string]any{"vocab": vocab}, "added_tokens": []any{}})
				if err := os.WriteFile(filepath.Join(src, "tokenizer.json"), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			sft := filepath.Join(dir, tc.mt+"-sft")
			if _, stderr, code := trainCmd(t, ctx, nil, "-init", src, "-steps", "2", "-eval-every", "0", "-q", "-out", sft, data); code != 0 {
				t.Fatalf("sft -init DIR: exit %d: %s", code, stderr)
			}
			dpo := filepath.Join(dir, tc.mt+"-dpo")
			if _, stderr, code := trainCmd(t, ctx, nil, "-mode", "pref", "-init", src, "-ref", src, "-loss", "dpo", "-steps", "2",
				"-batch", "4", "-eval-every", "0", "-q", "-out", dpo, data); code != 0 {
				t.Fatalf("pref -init DIR -ref DIR: exit %d: %s", code, stderr)
			}
			if tc.pad { // without the tokenizer's word, 64 of 72 rows is another vocabulary
				os.Remove(filepath.Join(src, "tokenizer.json"))
				_, stderr, code := trainCmd(t, ctx, nil, "-mode", "pref", "-init", src, "-ref", src, "-steps", "1", "-q", "-out", dpo+"2", data)
				if code != 1 || !strings.Contains(stderr, "vocabulary has 72 tokens but the dataset's has 64") {
					t.Errorf("padded directory without tokenizer files: exit %d, stderr %q", code, stderr)
				}
			}
			for _, run := range []string{sft, dpo} {
				out := run + "-hf"
				_, stderr, code := trainCmd(t, ctx, nil, "-export-hf", out, "-init", filepath.Join(run, runfmt.ModelFile))
				if code != 0 || !strings.Contains(stderr, tc.mt+" F32") {
					t.Fatalf("-export-hf: exit %d: %s", code, stderr)
				}
				ck, err := train.ReadCheckpoint(filepath.Join(run, runfmt.ModelFile))
				if err != nil {
					t.Fatal(err)
				}
				hm, err := hfmodel.Load(out)
				if err != nil {
					t.Fatal(err)
				}
				if hm.Family != tc.mt || hm.Config != ck.Model || ck.Model != tc.cfg || !slices.Equal(hm.Params, ck.Params) {
					t.Fatalf("exported %s %+v does not load back to the run's %+v weights", hm.Family, hm.Config, ck.Model)
				}
				if slices.Equal(ck.Params, m.Params) {
					t.Fatalf("%s: training did not change the weights", run)
				}
			}
		})
	}
}
