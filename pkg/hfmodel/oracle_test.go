package hfmodel

// PyTorch oracle for model directories: scripts/torch/hf_gpt2.py writes a
// random GPT-2 directory in Hugging Face's own names and layout (Conv1D
// weights [in, out], mask buffers, optional "transformer." prefix, F32, F16
// or BF16 storage), then computes response log-probs and autograd gradients
// with transformers' GPT-2 semantics directly on the stored tensors. The Go
// side loads the directory with Load, runs pkg/model, and maps its gradient
// back to the stored names and layout (toStored, Write's mapping): the two
// must agree for every sequence and every stored parameter. A wrong
// transpose, head order, scale or GELU gives relative errors of order one.

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"entangle/internal/torchtest"
	"entangle/pkg/model"
	"entangle/pkg/safetensors"
)

const hfScript = "../../scripts/torch/hf_gpt2.py"

// runPy runs hf_gpt2.py with args and returns its standard output.
func runPy(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	return torchtest.Run(t, timeout, hfScript, args...)
}

type seq struct {
	Tokens    []int32 `json:"tokens"`
	RespStart int     `json:"resp_start"`
}

// writeSeqs writes sequences of several lengths, the shortest (2) and the
// longest (n) included, and returns them.
func writeSeqs(t *testing.T, path string, V, n int, seed uint64) []seq {
	rng := rand.New(rand.NewPCG(seed, 3))
	var seqs []seq
	for _, s := range [][2]int{{n, n / 2}, {2, 1}, {min(5, n), 1}, {max(2, n-3), max(1, n-4)}} {
		tok := make([]int32, s[0])
		for j := range tok {
			tok[j] = int32(rng.IntN(V))
		}
		seqs = append(seqs, seq{tok, s[1]})
	}
	b, _ := json.Marshal(seqs)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return seqs
}

// readAll64 reads a float tensor of r as float64.
func readAll64(t *testing.T, r *safetensors.Reader, name string) []float64 {
	t.Helper()
	in, ok := r.Info(name)
	if !ok {
		t.Fatalf("oracle output lacks %s", name)
	}
	raw, err := r.Bytes(name)
	if err != nil {
		t.Fatal(err)
	}
	if in.DType == "F64" {
		out := make([]float64, len(raw)/8)
		for i := range out {
			out[i] = math.Float64frombits(uint64(raw[8*i]) | uint64(raw[8*i+1])<<8 | uint64(raw[8*i+2])<<16 | uint64(raw[8*i+3])<<24 |
				uint64(raw[8*i+4])<<32 | uint64(raw[8*i+5])<<40 | uint64(raw[8*i+6])<<48 | uint64(raw[8*i+7])<<56)
		}
		return out
	}
	v := make([]float32, len(raw)/4)
	safetensors.DecodeFloat32s(v, "F32", raw)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// checkAgainst compares the Go model m (parameters loaded from the
// directory) with the oracle output at outPath.
func checkAgainst[F model.Float](t *testing.T, fam *Family, m *model.Model[F], outPath string, seqs []seq, tol float64) {
	t.Helper()
	r, err := safetensors.Open(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ws := m.NewWorkspace()
	grad := make([]F, len(m.Params))
	worst := 0.0
	for i, s := range seqs {
		lp := ws.Forward(s.Tokens, s.RespStart)
		if e := torchtest.RelErr(lp, readAll64(t, r, fmt.Sprintf("logp.%d", i))); e > tol {
			t.Errorf("seq %d: log-probs rel err %.3g > %.0e", i, e, tol)
		}
		ones := make([]F, len(lp))
		for j := range ones {
			ones[j] = 1
		}
		ws.BackwardSet(grad, ones)
		for _, st := range toStored(fam, m.Cfg, grad) {
			e := torchtest.RelErr(st.data, readAll64(t, r, fmt.Sprintf("grad.%d.%s", i, st.name)))
			worst = max(worst, e)
			if e > tol {
				t.Errorf("seq %d (n=%d, respStart=%d): grad %s rel err %.3g > %.0e", i, len(s.Tokens), s.RespStart, st.name, e, tol)
			}
		}
	}
	t.Logf("worst per-tensor relative error %.2g (tolerance %.0e)", worst, tol)
}

func TestTorchOracleHF(t *testing.T) {
	torchtest.Require(t)
	for _, tc := range []struct {
		name   string
		store  string
		prefix string
		untied bool
		f64    bool
	}{
		{"F32", "F32", "", false, true},
		{"F32-transformer-prefix-untied", "F32", "transformer.", true, true},
		{"F16", "F16", "", false, false},
		{"BF16", "BF16", "transformer.", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			md := filepath.Join(dir, "gpt2-tiny")
			want := model.Config{V: 67, T: 24, C: 16, L: 2, H: 4, Tied: !tc.untied}
			seqPath := filepath.Join(dir, "seqs.json")
			seqs := writeSeqs(t, seqPath, want.V, want.T, 9)
			out32, out64 := filepath.Join(dir, "out32.safetensors"), filepath.Join(dir, "out64.safetensors")
			// One interpreter: write the directory, run the sequences in
			// float32 (and float64), decode greedily.
			args := []string{"write", md, "--vocab", "67", "--positions", "24", "--width", "16", "--layers", "2", "--heads", "4",
				"--seed", "5", "--store", tc.store, "--seqs", seqPath, "--out", out32}
			if tc.prefix != "" {
				args = append(args, "--prefix", tc.prefix)
			}
			if tc.untied {
				args = append(args, "--untied")
			}
			if tc.f64 {
				args = append(args, "--out64", out64, "--greedy", "3,1:12")
			}
			stdout := runPy(t, torchtest.Tiny, args...)
			hm, err := Load(md)
			if err != nil {
				t.Fatal(err)
			}
			if hm.Config != want || hm.DType != tc.store {
				t.Fatalf("Load: config %+v dtype %s, want %+v %s", hm.Config, hm.DType, want, tc.store)
			}
			m := model.New[float32](hm.Config)
			copy(m.Params, hm.Params)
			t.Run("float32", func(t *testing.T) { checkAgainst(t, gpt2Family, m, out32, seqs, torchtest.Tol32) })
			if tc.f64 {
				m64 := model.New[float64](hm.Config)
				for i, p := range hm.Params {
					m64.Params[i] = float64(p)
				}
				t.Run("float64", func(t *testing.T) { checkAgainst(t, gpt2Family, m64, out64, seqs, torchtest.Tol64) })
				// Greedy decoding, the path of the opt-in real-weights test.
				got := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(greedy(m, []int32{3, 1}, 12))), ","), "[]")
				if want := strings.TrimSpace(stdout); got != want {
					t.Errorf("greedy decoding: go %s, torch %s", got, want)
				}
			}
			// Round trip: writing the loaded weights back in the stored dtype
			// gives every stored parameter tensor byte for byte.
			back := filepath.Join(dir, "back")
			if err := Write(back, "gpt2", hm.Config, hm.Params, tc.store); err != nil {
				t.Fatal(err)
			}
			compareStored(t, gpt2Family, md, back, tc.prefix)
		})
	}
}

// TestTorchOracleHFExported runs the oracle on directories Write produced
// from Go models (tied and untied, F32 and BF16): the PyTorch GPT-2 reads
// Write's config.json and tensors and computes what the Go model computes.
func TestTorchOracleHFExported(t *testing.T) {
	torchtest.Require(t)
	for _, tc := range []struct {
		cfg   model.Config
		dtype string
	}{
		{model.Config{V: 41, T: 16, C: 12, L: 2, H: 3, Tied: true}, "F32"},
		{model.Config{V: 41, T: 16, C: 12, L: 1, H: 2}, "BF16"},
	} {
		t.Run(tc.dtype, func(t *testing.T) {
			dir := t.TempDir()
			m := model.New[float32](tc.cfg)
			m.Init(11)
			rng := rand.New(rand.NewPCG(11, 1))
			for i := range m.Params {
				m.Params[i] += float32(0.3 * rng.NormFloat64())
			}
			md := filepath.Join(dir, "exported")
			if err := Write(md, "gpt2", tc.cfg, m.Params, tc.dtype); err != nil {
				t.Fatal(err)
			}
			hm, err := Load(md) // the weights as written (rounded for BF16)
			if err != nil {
				t.Fatal(err)
			}
			copy(m.Params, hm.Params)
			seqPath := filepath.Join(dir, "seqs.json")
			seqs := writeSeqs(t, seqPath, tc.cfg.V, tc.cfg.T, 2)
			out := filepath.Join(dir, "out.safetensors")
			runPy(t, torchtest.Tiny, "run", md, "--seqs", seqPath, "--out", out)
			checkAgainst(t, gpt2Family, m, out, seqs, torchtest.Tol32)
		})
	}
}

// compareStored checks that every parameter tensor of the directory a (names
// with prefix) has the same dtype, shape and bytes in b (names without), and
// that b holds nothing else.
func compareStored(t *testing.T, fam *Family, a, b, prefix string) {
	t.Helper()
	ra, err := safetensors.Open(filepath.Join(a, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	rb, err := safetensors.Open(filepath.Join(b, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	n := 0
	for _, in := range ra.Tensors {
		name := strings.TrimPrefix(in.Name, prefix)
		if fam.Buffer(name) {
			continue
		}
		n++
		ib, ok := rb.Info(name)
		if !ok || ib.DType != in.DType || fmt.Sprint(ib.Shape) != fmt.Sprint(in.Shape) {
			t.Fatalf("round trip: %s: %+v, want %+v", name, ib, in)
		}
		x, _ := ra.Bytes(in.Name)
		y, _ := rb.Bytes(name)
		if string(x) != string(y) {
			t.Fatalf("round trip: %s bytes differ", name)
		}
	}
	if n != len(rb.Tensors) {
		t.Fatalf("round trip: %d tensors written, %d parameters stored", len(rb.Tensors), n)
	}
	if rb.Meta["format"] != "pt" {
		t.Errorf("written metadata %v lacks format pt", rb.Meta)
	}
}

// TestTorchOracleHF124M is the oracle at GPT-2 small's full shape (V 50257,
// C 768, L 12, H 12, T 1024) on one sequence of 40 tokens, float32. Opt-in:
// ENTANGLE_ORACLE_124M=1 (about 2 GB of disk in the temp dir, a few GB of
// memory, minutes).
func TestTorchOracleHF124M(t *testing.T) {
	if os.Getenv("ENTANGLE_ORACLE_124M") != "1" {
		t.Skip("set ENTANGLE_ORACLE_124M=1 to run the oracle at the full 124M shape")
	}
	torchtest.Require(t)
	dir := t.TempDir()
	md := filepath.Join(dir, "gpt2")
	runPy(t, 20*time.Minute, "write", md, "--vocab", "50257", "--positions", "1024", "--width", "768", "--layers", "12",
		"--heads", "12", "--seed", "3", "--scale", "0.02", "--prefix", "transformer.")
	hm, err := Load(md)
	if err != nil {
		t.Fatal(err)
	}
	if n := model.NumParams(hm.Config); n != 124439808 {
		t.Fatalf("NumParams = %d, want 124439808 (GPT-2 small)", n)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	tok := make([]int32, 40)
	for i := range tok {
		tok[i] = int32(rng.IntN(50257))
	}
	seqs := []seq{{tok, 24}}
	b, _ := json.Marshal(seqs)
	seqPath := filepath.Join(dir, "seqs.json")
	if err := os.WriteFile(seqPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.safetensors")
	runPy(t, 20*time.Minute, "run", md, "--seqs", seqPath, "--out", out)
	m := model.New[float32](hm.Config)
	copy(m.Params, hm.Params)
	hm.Params = nil
	checkAgainst(t, gpt2Family, m, out, seqs, torchtest.Tol32)
}

// TestGreedyGPT2 decodes greedily with the real gpt2 weights when
// ENTANGLE_GPT2_DIR names a Hugging Face gpt2 folder: transformers' own GPT-2
// test expects these 20 ids from "The dog".
func TestGreedyGPT2(t *testing.T) {
	dir := os.Getenv("ENTANGLE_GPT2_DIR")
	if dir == "" {
		t.Skip("set ENTANGLE_GPT2_DIR to a Hugging Face gpt2 folder to run")
	}
	hm, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := model.New[float32](hm.Config)
	copy(m.Params, hm.Params)
	want := []int32{464, 3290, 373, 1043, 287, 257, 2214, 1474, 262, 16246, 286, 2688, 290, 2688, 27262, 13, 198, 198, 464, 3290}
	got := greedy(m, []int32{464, 3290}, 18)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("greedy decoding of [464 3290]:\n got  %v\n want %v", got, want)
	}
}

// greedy appends n tokens, each the argmax (lowest id on ties) of the
// next-token logits h·wteᵀ at the last position, h the final LayerNorm output
// (from a Forward with one placeholder token appended), summed in float64.
func greedy(m *model.Model[float32], prompt []int32, n int) []int32 {
	cfg := m.Cfg
	ws := m.NewWorkspace()
	head := m.View("wte")
	if !cfg.Tied {
		head = m.View("lm_head.w")
	}
	toks := append([]int32(nil), prompt...)
	for range n {
		k := len(toks)
		ws.Forward(append(toks, 0), k)
		h := ws.Hidden()[(k-1)*cfg.C : k*cfg.C]
		best, bestL := 0, math.Inf(-1)
		for v := range cfg.V {
			var s float64
			for c, x := range h {
				s += float64(x) * float64(head[v*cfg.C+c])
			}
			if s > bestL {
				best, bestL = v, s
			}
		}
		toks = append(toks, int32(best))
	}
	return toks
}
