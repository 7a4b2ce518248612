package hfmodel

// PyTorch oracle for LoRA adapters: Go writes adapters in peft's layout
// (WriteLoRA) for a base directory written by hf_gpt2.py / hf_families.py;
// scripts/torch/hf_lora.py runs the base computation with peft's adapted
// layer (base(x) + lora_B(lora_A(x))·α/r, unmerged) and autograd; Go reads
// the adapters back (LoadLoRA), merges them, and its log-probs, adapter
// gradients (LoRA.Grad of the full gradient, and the adapter-only backward
// LoRA.BackwardSet) and full-parameter gradients
// must match torch's within the oracle tolerances in float32 and float64.
// GPT-2's fused c_attn and both c_proj, NeoX's per-head interleaved
// query_key_value (B's rows reordered), Llama's q/k/v row blocks of the
// fused qkv with grouped-query attention and the SwiGLU gate/up blocks are
// all exercised; a wrong orientation, row block or row order gives errors
// of order one.

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"entangle/internal/torchtest"
	"entangle/pkg/model"
	"entangle/pkg/safetensors"
)

const loraScript = "../../scripts/torch/hf_lora.py"

func TestTorchOracleLoRA(t *testing.T) {
	torchtest.Require(t)
	for _, tc := range []struct {
		name    string
		script  string
		args    []string
		modules []string
		r       int
		alpha   float64
		sites   int
	}{
		{"gpt2", hfScript, []string{"--vocab", "41", "--positions", "16", "--width", "16", "--layers", "2", "--heads", "4"},
			[]string{"c_attn", "c_proj"}, 4, 8, 6},
		{"neox", familiesScript, []string{"--family", "neox", "--vocab", "37", "--positions", "16", "--width", "16",
			"--layers", "2", "--heads", "2", "--inter", "24", "--rotary-pct", "0.5"},
			[]string{"query_key_value", "dense_4h_to_h"}, 3, 12, 4},
		{"llama-gqa", familiesScript, []string{"--family", "llama", "--vocab", "37", "--positions", "16", "--width", "16",
			"--layers", "2", "--heads", "4", "--kv-heads", "2", "--inter", "20", "--tied"},
			[]string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, 2, 5, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			md, ad := filepath.Join(dir, "base"), filepath.Join(dir, "adapter")
			torchtest.Run(t, torchtest.Tiny, tc.script, append([]string{"write", md, "--seed", "4"}, tc.args...)...)
			hm, err := Load(md)
			if err != nil {
				t.Fatal(err)
			}
			lc := LoRAConfig{R: tc.r, Alpha: tc.alpha, Modules: tc.modules, Base: "tiny-" + tc.name}
			sites, err := LoRASites(hm.Family, hm.Config, lc)
			if err != nil {
				t.Fatal(err)
			}
			if len(sites) != tc.sites {
				t.Fatalf("%d sites, want %d: %+v", len(sites), tc.sites, sites)
			}
			m := model.New[float32](hm.Config)
			copy(m.Params, hm.Params)
			a, err := model.NewLoRA(m, tc.r, tc.alpha, sites)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(7, 0))
			for i := range a.Params {
				a.Params[i] = float32(0.3 * rng.NormFloat64()) // B ≠ 0, so the adapters change the model
			}
			if err := WriteLoRA(ad, hm.Family, hm.Config, lc, a); err != nil {
				t.Fatal(err)
			}
			seqPath := filepath.Join(dir, "seqs.json")
			seqs := writeSeqs(t, seqPath, hm.Config.V, hm.Config.T, 9)
			out32, out64 := filepath.Join(dir, "out32.safetensors"), filepath.Join(dir, "out64.safetensors")
			torchtest.Run(t, torchtest.Tiny, loraScript, md, ad, "--seqs", seqPath, "--out", out32, "--out64", out64)

			m2 := model.New[float32](hm.Config)
			copy(m2.Params, hm.Params)
			a2, lc2, err := LoadLoRA(ad, hm.Family, m2)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a2.Params, a.Params) || lc2.R != lc.R || lc2.Alpha != lc.Alpha || !slices.Equal(lc2.Modules, lc.Modules) || lc2.Base != lc.Base {
				t.Fatalf("LoadLoRA does not give back what WriteLoRA wrote (config %+v)", lc2)
			}
			ls, _ := loraSites(hm.Family, hm.Config, lc)
			a2.Merge()
			t.Run("float32", func(t *testing.T) { checkLoRA(t, hm.Family, m2, a2, ls, out32, seqs, torchtest.Tol32) })
			m64 := model.New[float64](hm.Config)
			for i, p := range hm.Params {
				m64.Params[i] = float64(p)
			}
			a64, err := model.NewLoRA(m64, tc.r, tc.alpha, sites)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range a.Params {
				a64.Params[i] = float64(p)
			}
			a64.Merge()
			t.Run("float64", func(t *testing.T) { checkLoRA(t, hm.Family, m64, a64, ls, out64, seqs, torchtest.Tol64) })
			// adapters disabled: the base model again, bit for bit
			a2.Unmerge()
			if !slices.Equal(m2.Params, hm.Params) {
				t.Error("Unmerge does not restore the base model")
			}
		})
	}
}

// checkLoRA compares the merged model's log-probs, adapter gradients and
// full-parameter gradients with the oracle's.
func checkLoRA[F model.Float](t *testing.T, family string, m *model.Model[F], a *model.LoRA[F], ls []loraSite, outPath string, seqs []seq, tol float64) {
	t.Helper()
	r, err := safetensors.Open(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ws := m.NewWorkspace()
	grad := make([]F, len(m.Params))
	ag := make([]F, len(a.Params))
	only := make([]F, len(a.Params))
	worst := 0.0
	check := func(i int, name string, got []F) {
		e := torchtest.RelErr(got, readAll64(t, r, fmt.Sprintf("grad.%d.%s", i, name)))
		worst = max(worst, e)
		if e > tol {
			t.Errorf("seq %d: grad %s rel err %.3g > %.0e", i, name, e, tol)
		}
	}
	for i, s := range seqs {
		lp := ws.Forward(s.Tokens, s.RespStart)
		if e := torchtest.RelErr(lp, readAll64(t, r, fmt.Sprintf("logp.%d", i))); e > tol {
			t.Errorf("seq %d: log-probs rel err %.3g > %.0e", i, e, tol)
		}
		ones := make([]F, len(lp))
		for j := range ones {
			ones[j] = 1
		}
		a.BackwardSet(ws, only, ones) // the adapter-only backward
		ws.BackwardSet(grad, ones)
		a.Grad(ag, grad)
		for _, g := range [][]F{ag, only} {
			for k, st := range ls {
				dA, dB := a.AB(g, k)
				if st.heads > 0 {
					hb := make([]F, len(dB))
					toHeads(hb, dB, st.heads, a.R)
					dB = hb
				}
				check(i, peftName(st.site.Name, "lora_A"), dA)
				check(i, peftName(st.site.Name, "lora_B"), dB)
			}
		}
		for _, st := range toStored(families[family], m.Cfg, grad) {
			check(i, st.name, st.data)
		}
	}
	t.Logf("worst per-tensor relative error %.2g (tolerance %.0e)", worst, tol)
}
