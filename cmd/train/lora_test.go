package main

import (
	"bytes"
	"context"
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
	"entangle/pkg/train"
)

// TestLoRACLI: SFT and DPO with -lora-r on tiny GPT-2 and Llama directories:
// the adapter/ directory loads on the base, pairs.arrows has the model's
// and the adapter groups, -lora-init continues from the SFT adapters, the
// outputs are the same bytes with GOMAXPROCS 1, and the flags' usage errors.
func TestLoRACLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := dataset(t, dir, "1t", 64)
	for _, tc := range []struct {
		mt      string
		cfg     model.Config
		modules string
		sites   int
	}{
		{"gpt2", model.Config{V: 64, T: 64, C: 16, L: 2, H: 2, Tied: true}, "c_attn,c_proj", 6},
		{"llama", model.Config{Arch: model.ArchLlama, V: 64, T: 64, C: 16, L: 2, H: 4, KV: 2, FF: 24, Tied: true}, "q_proj,k_proj,v_proj", 6},
	} {
		t.Run(tc.mt, func(t *testing.T) {
			src := filepath.Join(dir, tc.mt)
			m := model.New[float32](tc.cfg)
			m.Init(5)
			if err := hfmodel.Write(src, tc.mt, tc.cfg, m.Params, "F32"); err != nil {
				t.Fatal(err)
			}
			lora := []string{"-lora-r", "4", "-lora-modules", tc.modules}
			sft := filepath.Join(dir, tc.mt+"-sft")
			if _, stderr, code := trainCmd(t, ctx, nil, append(lora, "-init", src, "-steps", "3", "-lr", "1e-2", "-eval-every", "0", "-q", "-out", sft, data)...); code != 0 {
				t.Fatalf("sft -lora-r: exit %d: %s", code, stderr)
			}
			ad := filepath.Join(sft, runfmt.AdapterDir)
			base := model.New[float32](tc.cfg)
			copy(base.Params, m.Params)
			a, lc, err := hfmodel.LoadLoRA(ad, tc.mt, base)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Sites) != tc.sites || lc.R != 4 || lc.Alpha != 8 || lc.Base != src {
				t.Fatalf("adapter: %d sites, config %+v", len(a.Sites), lc)
			}
			a.Merge()
			ck, err := train.ReadCheckpoint(filepath.Join(sft, runfmt.ModelFile))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ck.Params, base.Params) || slices.Equal(ck.Params, m.Params) {
				t.Fatal("model.safetensors is not the base with the adapters merged, or the adapters did not train")
			}
			// DPO continuing from the SFT adapters; the reference is the base.
			args := []string{"-mode", "pref", "-init", src, "-lora-init", ad, "-loss", "dpo", "-steps", "3", "-batch", "4",
				"-eval-every", "0", "-q", "-probe", "2", "-dump-every", "2"}
			dpo := filepath.Join(dir, tc.mt+"-dpo")
			if _, stderr, code := trainCmd(t, ctx, nil, append(args, "-out", dpo, data)...); code != 0 {
				t.Fatalf("pref -lora-init: exit %d: %s", code, stderr)
			}
			f, err := os.Open(filepath.Join(dpo, runfmt.PairsFile))
			if err != nil {
				t.Fatal(err)
			}
			r, err := runfmt.NewPairReader(f, runfmt.PairsFile)
			if err != nil {
				t.Fatal(err)
			}
			meta := r.Meta()
			G := len(model.Tensors(tc.cfg))
			nl := 0
			for _, g := range meta.Groups {
				if g.Of == runfmt.GroupsLoRA {
					nl++
				}
			}
			n := 0
			for r.Next() {
				for _, row := range r.Rows() {
					n++
					if len(row.DotG) != G+nl || row.WWG[G] == 0 {
						t.Fatalf("pair row with %d groups (want %d + %d) or a zero adapter norm", len(row.DotG), G, nl)
					}
				}
			}
			r.Release()
			f.Close()
			if nl != 2*tc.sites || n == 0 {
				t.Fatalf("%d adapter groups, %d rows", nl, n)
			}
			prev := runtime.GOMAXPROCS(1)
			one := filepath.Join(dir, tc.mt+"-dpo1")
			_, stderr, code := trainCmd(t, ctx, nil, append(args, "-out", one, data)...)
			runtime.GOMAXPROCS(prev)
			if code != 0 {
				t.Fatalf("GOMAXPROCS 1: exit %d: %s", code, stderr)
			}
			for _, name := range []string{runfmt.PairsFile, runfmt.CheckpointFile, runfmt.ModelFile,
				filepath.Join(runfmt.AdapterDir, hfmodel.AdapterWeightsFile), filepath.Join(runfmt.AdapterDir, hfmodel.AdapterConfigFile)} {
				if !bytes.Equal(mustRead(t, filepath.Join(dpo, name)), mustRead(t, filepath.Join(one, name))) {
					t.Errorf("%s differs between GOMAXPROCS 1 and %d", name, prev)
				}
			}
		})
	}
	// usage errors
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-lora-modules", "c_attn"}, "-lora-modules needs -lora-r"},
		{[]string{"-lora-r", "4"}, "-lora-r needs -lora-modules"},
		{[]string{"-lora-grad", "adapters"}, "-lora-grad needs -lora-r"},
		{[]string{"-lora-r", "4", "-lora-modules", "c_attn", "-lora-grad", "some"}, "-lora-grad must be all or adapters"},
		{[]string{"-lora-r", "0", "-lora-modules", "c_attn"}, "-lora-r must be at least 1"},
		{[]string{"-lora-r", "4", "-lora-modules", "c_attn"}, "-lora-r needs -init"},
		{[]string{"-lora-init", filepath.Join(dir, "gpt2-sft", runfmt.AdapterDir), "-lora-r", "2"}, "-lora-r conflicts with -lora-init"},
	} {
		_, stderr, code := trainCmd(t, ctx, nil, append(tc.args, "-steps", "1", "-q", "-out", filepath.Join(dir, "bad"), data)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	_, stderr, code := trainCmd(t, ctx, nil, "-init", filepath.Join(dir, "gpt2"), "-lora-r", "4", "-lora-modules", "q_proj", "-steps", "1", "-q", "-out", filepath.Join(dir, "bad2"), data)
	if code == 0 || !strings.Contains(stderr, `target module "q_proj" matches no projection of a gpt2 model`) {
		t.Errorf("q_proj on gpt2: exit %d, stderr %q", code, stderr)
	}
}

// TestLoRAGradAdapters: -lora-grad adapters on a tiny Llama directory. SFT
// trains the same adapters as -lora-grad all to float32 rounding; in DPO
// pairs.arrows has the adapter groups only (Of ""), summing to the totals,
// equal to the adapter groups of a -lora-grad all run at step 1 to float32
// rounding; probes and full -grads vectors are of the adapters' length;
// the outputs are the same bytes with GOMAXPROCS 1.
func TestLoRAGradAdapters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := dataset(t, dir, "1t", 64)
	cfg := model.Config{Arch: model.ArchLlama, V: 64, T: 64, C: 16, L: 2, H: 4, KV: 2, FF: 24, Tied: true}
	src := filepath.Join(dir, "llama")
	m := model.New[float32](cfg)
	m.Init(5)
	if err := hfmodel.Write(src, "llama", cfg, m.Params, "F32"); err != nil {
		t.Fatal(err)
	}
	lora := []string{"-init", src, "-lora-r", "4", "-lora-modules", "q_proj,v_proj,down_proj", "-eval-every", "0", "-q"}
	adapters := func(run string) []float32 {
		ck, err := train.ReadCheckpoint(filepath.Join(run, runfmt.CheckpointFile))
		if err != nil {
			t.Fatal(err)
		}
		return ck.LoRA
	}
	var sft [2][]float32
	for k, g := range []string{"all", "adapters"} {
		out := filepath.Join(dir, "sft-"+g)
		if _, stderr, code := trainCmd(t, ctx, nil, append(lora, "-lora-grad", g, "-steps", "3", "-lr", "1e-2", "-out", out, data)...); code != 0 {
			t.Fatalf("sft -lora-grad %s: exit %d: %s", g, code, stderr)
		}
		sft[k] = adapters(out)
	}
	if e := relErr32(sft[1], sft[0]); e > 1e-4 || len(sft[0]) == 0 {
		t.Errorf("sft adapters: -lora-grad adapters vs all: relative difference %.3g", e)
	}
	pairs := func(run string) (runfmt.Meta, []runfmt.PairRow) {
		f, err := os.Open(filepath.Join(run, runfmt.PairsFile))
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
			for _, row := range r.Rows() {
				rows = append(rows, row.Clone())
			}
		}
		return r.Meta(), rows
	}
	args := append(lora, "-mode", "pref", "-loss", "dpo", "-steps", "2", "-batch", "4", "-probe", "2", "-dump-every", "1", "-grads", "full")
	all, only := filepath.Join(dir, "dpo-all"), filepath.Join(dir, "dpo-adapters")
	if _, stderr, code := trainCmd(t, ctx, nil, append(args, "-out", all, data)...); code != 0 {
		t.Fatalf("pref -lora-grad all: exit %d: %s", code, stderr)
	}
	if _, stderr, code := trainCmd(t, ctx, nil, append(args, "-lora-grad", "adapters", "-out", only, data)...); code != 0 {
		t.Fatalf("pref -lora-grad adapters: exit %d: %s", code, stderr)
	}
	metaA, rowsA := pairs(all)
	metaO, rowsO := pairs(only)
	G := len(model.Tensors(cfg))
	if len(metaO.Groups) != len(metaA.Groups)-G || len(metaO.Groups) != 12 {
		t.Fatalf("%d groups, want the %d adapter groups", len(metaO.Groups), len(metaA.Groups)-G)
	}
	for g, gr := range metaO.Groups {
		if gr.Of != "" || gr.Name != metaA.Groups[G+g].Name {
			t.Fatalf("group %d: %+v, want %s of the totals' vector", g, gr, metaA.Groups[G+g].Name)
		}
	}
	n := 0
	for i, r := range rowsO {
		a := rowsA[i]
		if r.Step != a.Step || r.Pair != a.Pair || r.Kind != a.Kind {
			t.Fatalf("row %d: step/pair/kind differ", i)
		}
		var ww float64
		for _, v := range r.WWG {
			ww += v
		}
		if math.Abs(ww-r.WW) > 1e-9*r.WW || ww == 0 {
			t.Errorf("row %d: adapter groups sum to %v, total %v", i, ww, r.WW)
		}
		if r.Step != 1 {
			continue
		}
		n++
		for g := range r.DotG {
			sc := a.WWG[G+g] + a.LLG[G+g]
			if math.Abs(r.DotG[g]-a.DotG[G+g]) > 1e-3*sc || math.Abs(r.WWG[g]-a.WWG[G+g]) > 1e-3*sc {
				t.Errorf("row %d group %d: (%v, %v), the all run's (%v, %v)", i, g, r.DotG[g], r.WWG[g], a.DotG[G+g], a.WWG[G+g])
			}
		}
	}
	if n == 0 {
		t.Fatal("no step-1 rows")
	}
	prev := runtime.GOMAXPROCS(1)
	one := filepath.Join(dir, "dpo-adapters-1")
	_, stderr, code := trainCmd(t, ctx, nil, append(args, "-lora-grad", "adapters", "-out", one, data)...)
	runtime.GOMAXPROCS(prev)
	if code != 0 {
		t.Fatalf("GOMAXPROCS 1: exit %d: %s", code, stderr)
	}
	for _, name := range []string{runfmt.PairsFile, runfmt.GradsFile, runfmt.CheckpointFile} {
		if !bytes.Equal(mustRead(t, filepath.Join(only, name)), mustRead(t, filepath.Join(one, name))) {
			t.Errorf("%s differs between GOMAXPROCS 1 and %d", name, prev)
		}
	}
}

func relErr32(x, y []float32) float64 {
	var num, den float64
	for i := range x {
		d := float64(x[i]) - float64(y[i])
		num += d * d
		den += float64(y[i]) * float64(y[i])
	}
	return math.Sqrt(num / den)
}
