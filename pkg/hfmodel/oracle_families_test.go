package hfmodel

// PyTorch oracle for the GPT-NeoX and Llama-style families:
// scripts/torch/hf_families.py writes a random directory in Hugging Face's
// names and layout (NeoX's per-head interleaved query_key_value, q/k/v and
// gate/up stored apart, the buffers of older checkpoints, F32/F16/BF16) and
// computes log-probs and autograd gradients with the semantics of
// transformers' modeling_gpt_neox.py and modeling_llama.py. The Go side loads
// it, runs pkg/model in float32 and float64, maps its gradient back to the
// stored names (toStored), and writes the directory back byte for byte.
// Tolerances are the GPT-2 oracle's (torchtest.Tol32, torchtest.Tol64): the float32 runs differ
// by rounding only (the rotary tables in float32 in torch, float64 rounded
// once here; fused multiply-adds; summation order), ~1e-6; the float64 runs
// by ~1e-14. A wrong head order, rotary convention, norm or activation gives
// errors of order one.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"entangle/internal/torchtest"
	"entangle/pkg/model"
)

const familiesScript = "../../scripts/torch/hf_families.py"

func TestTorchOracleFamilies(t *testing.T) {
	torchtest.Require(t)
	for _, tc := range []struct {
		name   string
		args   []string // hf_families.py write flags
		want   model.Config
		store  string
		tokV   int  // tokens drawn below this (a padded vocabulary when < V)
		export bool // also run torch on the directory Write produces
	}{
		{"neox-F16-parallel-padded-buffers", []string{"--family", "neox", "--vocab", "72", "--positions", "24", "--width", "16",
			"--layers", "2", "--heads", "2", "--inter", "24", "--rotary-pct", "0.25", "--buffers"},
			model.Config{Arch: model.ArchNeoX, V: 72, T: 24, C: 16, L: 2, H: 2, FF: 24, Rotary: 2},
			"F16", 60, true},
		{"neox-F32-sequential-tied", []string{"--family", "neox", "--vocab", "41", "--positions", "16", "--width", "24",
			"--layers", "2", "--heads", "3", "--rotary-pct", "0.5", "--sequential", "--tied", "--theta", "500", "--eps", "1e-6"},
			model.Config{Arch: model.ArchNeoX, V: 41, T: 16, C: 24, L: 2, H: 3, Eps: 1e-6, Rotary: 4, RopeTheta: 500, Sequential: true, Tied: true},
			"F32", 41, false},
		{"llama-BF16-gqa-tied-buffers", []string{"--family", "llama", "--vocab", "53", "--positions", "24", "--width", "16",
			"--layers", "2", "--heads", "4", "--kv-heads", "2", "--inter", "20", "--tied", "--theta", "100000", "--buffers"},
			model.Config{Arch: model.ArchLlama, V: 53, T: 24, C: 16, L: 2, H: 4, KV: 2, FF: 20, RopeTheta: 100000, Tied: true},
			"BF16", 53, false},
		{"llama-F32-biases-llama3", []string{"--family", "llama", "--vocab", "37", "--positions", "20", "--width", "12",
			"--layers", "2", "--heads", "2", "--inter", "18", "--attention-bias", "--mlp-bias", "--eps", "1e-6",
			"--theta", "500000", "--llama3", "8,1,4,8"},
			model.Config{Arch: model.ArchLlama, V: 37, T: 20, C: 12, L: 2, H: 2, FF: 18, Eps: 1e-6, RopeTheta: 500000,
				RopeFactor: 8, RopeLowFreq: 1, RopeHighFreq: 4, RopeOrigCtx: 8, QKVBias: true, ProjBias: true, MLPBias: true},
			"F32", 37, true},
		{"qwen2-F32-mqa", []string{"--family", "qwen2", "--vocab", "37", "--positions", "16", "--width", "16",
			"--layers", "1", "--heads", "4", "--kv-heads", "1", "--inter", "24", "--eps", "1e-6", "--theta", "1000000"},
			model.Config{Arch: model.ArchLlama, V: 37, T: 16, C: 16, L: 1, H: 4, KV: 1, FF: 24, Eps: 1e-6, RopeTheta: 1000000, QKVBias: true},
			"F32", 37, true},
		{"mistral-F16", []string{"--family", "mistral", "--vocab", "29", "--positions", "12", "--width", "8",
			"--layers", "1", "--heads", "2", "--kv-heads", "1", "--inter", "12"},
			model.Config{Arch: model.ArchLlama, V: 29, T: 12, C: 8, L: 1, H: 2, KV: 1, FF: 12},
			"F16", 29, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			md := filepath.Join(dir, "model")
			seqPath := filepath.Join(dir, "seqs.json")
			seqs := writeSeqs(t, seqPath, tc.tokV, tc.want.T, 9)
			out32, out64 := filepath.Join(dir, "out32.safetensors"), filepath.Join(dir, "out64.safetensors")
			args := append([]string{familiesScript, "write", md, "--seed", "5", "--store", tc.store,
				"--seqs", seqPath, "--out", out32, "--out64", out64}, tc.args...)
			runScript(t, torchtest.Tiny, args...)
			hm, err := Load(md)
			if err != nil {
				t.Fatal(err)
			}
			if hm.Config != tc.want || hm.DType != tc.store {
				t.Fatalf("Load: config %+v dtype %s, want %+v %s", hm.Config, hm.DType, tc.want, tc.store)
			}
			fam := families[hm.Family]
			m := model.New[float32](hm.Config)
			copy(m.Params, hm.Params)
			t.Run("float32", func(t *testing.T) { checkAgainst(t, fam, m, out32, seqs, torchtest.Tol32) })
			m64 := model.New[float64](hm.Config)
			for i, p := range hm.Params {
				m64.Params[i] = float64(p)
			}
			t.Run("float64", func(t *testing.T) { checkAgainst(t, fam, m64, out64, seqs, torchtest.Tol64) })
			// Round trip in the stored dtype: every parameter byte for byte.
			back := filepath.Join(dir, "back")
			if err := Write(back, hm.Family, hm.Config, hm.Params, tc.store); err != nil {
				t.Fatal(err)
			}
			compareStored(t, fam, md, back, "")
			hb, err := Load(back)
			if err != nil {
				t.Fatal(err)
			}
			if hb.Config != hm.Config || hb.Family != hm.Family {
				t.Errorf("written config reads back as %s %+v, want %s %+v", hb.Family, hb.Config, hm.Family, hm.Config)
			}
			if tc.export { // torch reads Write's config.json as the Go model means it
				out := filepath.Join(dir, "back.safetensors")
				runScript(t, torchtest.Tiny, familiesScript, "run", back, "--seqs", seqPath, "--out", out)
				checkAgainst(t, fam, m, out, seqs, torchtest.Tol32)
			}
		})
	}
}

// runScript runs a python script with args (the script first).
func runScript(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	saved := args[0]
	return torchtest.Run(t, timeout, saved, args[1:]...)
}

// TestTorchOracleFamiliesReal is the oracle at the real shapes of
// pythia-160m (F16, V 50304, C 768, L 12, H 12, rotary 0.25) and
// SmolLM2-135M (BF16, V 49152, C 576, L 30, H 9, KV 3, F 1536, tied, θ 1e5)
// on one 40-token sequence, float32. Opt-in: ENTANGLE_ORACLE_FAMILIES=1
// (about 1.5 GB of disk in the temp dir, a few GB of memory, minutes).
func TestTorchOracleFamiliesReal(t *testing.T) {
	if os.Getenv("ENTANGLE_ORACLE_FAMILIES") != "1" {
		t.Skip("set ENTANGLE_ORACLE_FAMILIES=1 to run the oracle at the pythia-160m and SmolLM2-135M shapes")
	}
	torchtest.Require(t)
	for _, tc := range []struct {
		name   string
		args   []string
		params int
	}{
		{"pythia-160m", []string{"--family", "neox", "--vocab", "50304", "--positions", "2048", "--width", "768", "--layers", "12",
			"--heads", "12", "--inter", "3072", "--rotary-pct", "0.25", "--store", "F16", "--buffers"}, 162322944},
		{"SmolLM2-135M", []string{"--family", "llama", "--vocab", "49152", "--positions", "8192", "--width", "576", "--layers", "30",
			"--heads", "9", "--kv-heads", "3", "--inter", "1536", "--tied", "--theta", "100000", "--store", "BF16"}, 134515008},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			md := filepath.Join(dir, "model")
			V, _ := strconv.Atoi(tc.args[3])
			tok := make([]int32, 40)
			for i := range tok {
				tok[i] = int32((i*7919 + 13) % V)
			}
			seqs := []seq{{tok, 24}}
			b, _ := json.Marshal(seqs)
			seqPath := filepath.Join(dir, "seqs.json")
			if err := os.WriteFile(seqPath, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out.safetensors")
			runScript(t, 30*time.Minute, append([]string{familiesScript, "write", md, "--seed", "3", "--scale", "0.02",
				"--seqs", seqPath, "--out", out}, tc.args...)...)
			hm, err := Load(md)
			if err != nil {
				t.Fatal(err)
			}
			if n := model.NumParams(hm.Config); n != tc.params {
				t.Fatalf("NumParams = %d, want %d", n, tc.params)
			}
			m := model.New[float32](hm.Config)
			copy(m.Params, hm.Params)
			hm.Params = nil
			checkAgainst(t, families[hm.Family], m, out, seqs, torchtest.Tol32)
		})
	}
}
