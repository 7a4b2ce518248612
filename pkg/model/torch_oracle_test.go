package model

// PyTorch oracle: the same model rebuilt in PyTorch (scripts/torch/gpt.py) from
// a checkpoint this test writes must give the same response log-probs and the
// same autograd gradient for every tensor. Needs Debian's /usr/bin/python3 with
// torch (.ci/setup-torch.sh); skipped without it, except in CI.

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"entangle/internal/torchtest"
	"entangle/pkg/safetensors"
)

const oracleScript = "../../scripts/torch/oracle.py"

// runOracle runs scripts/torch/oracle.py with args and reads its output file.
func runOracle(t *testing.T, out string, args ...string) *safetensors.File {
	t.Helper()
	torchtest.Run(t, torchtest.Tiny, oracleScript, args...)
	f, err := safetensors.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// saveCheckpoint writes params (float32, layout of Tensors(cfg)) with the
// config JSON in the metadata, as a Go checkpoint would.
func saveCheckpoint(t *testing.T, path string, cfg Config, params []float32) {
	t.Helper()
	var ts []safetensors.Tensor
	for _, x := range Tensors(cfg) {
		ts = append(ts, safetensors.F32(x.Name, x.Shape, params[x.Offset:x.Offset+x.Size]))
	}
	c, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := safetensors.WriteFile(path, ts, map[string]string{"config": string(c)}); err != nil {
		t.Fatal(err)
	}
}

// oracleFloats reads tensor name of f as float64 whatever its dtype.
func oracleFloats(t *testing.T, f *safetensors.File, name string) []float64 {
	t.Helper()
	if v, err := f.Float64s(name); err == nil {
		return v
	}
	v32, err := f.Float32s(name)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float64, len(v32))
	for i, x := range v32 {
		v[i] = float64(x)
	}
	return v
}

// oracleParams returns seeded float32 parameters for cfg: GPT-2's Init, or
// (large) every entry perturbed by N(0, 0.3²) so that attention is far from
// uniform and every tensor's gradient is of order one, which makes a wrong
// attention scale, head split or GELU visible.
func oracleParams(cfg Config, seed uint64, large bool) []float32 {
	m := New[float32](cfg)
	m.Init(seed)
	if large {
		rng := rand.New(rand.NewPCG(seed, 7))
		for i := range m.Params {
			m.Params[i] += float32(0.3 * rng.NormFloat64())
		}
	}
	return m.Params
}

// oracleSeqs returns sequences of different lengths and response starts,
// including the shortest (n = 2) and the longest (n = T) possible.
func oracleSeqs(cfg Config, seed uint64) []Seq {
	rng := rand.New(rand.NewPCG(seed, 3))
	T := cfg.T
	shapes := [][2]int{{T, T / 2}, {2, 1}, {5, 1}, {T - 3, T - 4}, {T / 2, 3}}
	seqs := make([]Seq, len(shapes))
	for i, s := range shapes {
		tok := make([]int32, s[0])
		for j := range tok {
			tok[j] = int32(rng.IntN(cfg.V))
		}
		seqs[i] = Seq{Tokens: tok, RespStart: s[1]}
	}
	return seqs
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkSeqsAgainstTorch compares, for every sequence, the Go model's response
// log-probs and ∇θ Σ log-probs (Backward with dlogp = 1) with the oracle's.
func checkSeqsAgainstTorch[F Float](t *testing.T, m *Model[F], f *safetensors.File, seqs []Seq, tol float64) {
	t.Helper()
	ws := m.NewWorkspace()
	grad := make([]F, len(m.Params))
	worst := 0.0
	for i, s := range seqs {
		lp := ws.Forward(s.Tokens, s.RespStart)
		if e := torchtest.RelErr(lp, oracleFloats(t, f, fmt.Sprintf("logp.%d", i))); e > tol {
			t.Errorf("seq %d: log-probs rel err %.3g > %.0e\n go    %v\n torch %v", i, e, tol, lp,
				oracleFloats(t, f, fmt.Sprintf("logp.%d", i)))
		}
		ones := make([]F, len(lp))
		for j := range ones {
			ones[j] = 1
		}
		clear(grad)
		ws.Backward(grad, ones)
		for _, x := range Tensors(m.Cfg) {
			want := oracleFloats(t, f, fmt.Sprintf("grad.%d.%s", i, x.Name))
			e := torchtest.RelErr(ViewOf(grad, m.Cfg, x.Name), want)
			worst = max(worst, e)
			if e > tol {
				t.Errorf("seq %d (n=%d, respStart=%d): grad %s rel err %.3g > %.0e",
					i, len(s.Tokens), s.RespStart, x.Name, e, tol)
			}
		}
	}
	t.Logf("worst per-tensor relative error %.2g (tolerance %.0e)", worst, tol)
}

func TestTorchOracle(t *testing.T) {
	torchtest.Require(t)
	tiny, err := Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	untied := tiny
	untied.Tied, untied.H = false, 4
	for _, tc := range []struct {
		name  string
		cfg   Config
		large bool
	}{
		{"tiny/init", tiny, false},
		{"tiny-untied-H4/large", untied, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ckpt := filepath.Join(dir, "ckpt.safetensors")
			params := oracleParams(tc.cfg, 42, tc.large)
			saveCheckpoint(t, ckpt, tc.cfg, params)
			seqs := oracleSeqs(tc.cfg, 42)
			type jseq struct {
				Tokens    []int32 `json:"tokens"`
				RespStart int     `json:"resp_start"`
			}
			js := make([]jseq, len(seqs))
			for i, s := range seqs {
				js[i] = jseq{s.Tokens, s.RespStart}
			}
			seqPath := filepath.Join(dir, "seqs.json")
			writeJSON(t, seqPath, js)

			t.Run("float32", func(t *testing.T) {
				out := filepath.Join(dir, "out32.safetensors")
				f := runOracle(t, out, ckpt, seqPath, out)
				m := New[float32](tc.cfg)
				copy(m.Params, params)
				checkSeqsAgainstTorch(t, m, f, seqs, torchtest.Tol32)
			})
			t.Run("float64", func(t *testing.T) {
				out := filepath.Join(dir, "out64.safetensors")
				f := runOracle(t, out, "--dtype", "float64", ckpt, seqPath, out)
				m := New[float64](tc.cfg)
				for i, p := range params {
					m.Params[i] = float64(p)
				}
				checkSeqsAgainstTorch(t, m, f, seqs, torchtest.Tol64)
			})
		})
	}
}

// TestTorchOracleDPO checks the oracle's preference mode against the Go model:
// the gradient of the mean DPO loss (Rafailov et al. 2023)
//
//	ℓ_i = −log σ(u_i),  u_i = β[(z_w − z_w^ref) − (z_l − z_l^ref)]
//	∇ (1/P)Σ_i ℓ_i = (1/P) Σ_i β σ(−u_i) (g_l − g_w),   g = ∇θ z
//
// assembled from Backward with dlogp = ∓βσ(−u_i)/P, in float64.
func TestTorchOracleDPO(t *testing.T) {
	torchtest.Require(t)
	cfg, err := Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tied = false
	params := oracleParams(cfg, 7, true)
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "ckpt.safetensors")
	saveCheckpoint(t, ckpt, cfg, params)

	const beta = 0.1 // TRL's default β
	rng := rand.New(rand.NewPCG(7, 5))
	toks := func(n int) []int32 {
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(rng.IntN(cfg.V))
		}
		return v
	}
	type jpair struct {
		Prompt      []int32 `json:"prompt"`
		Chosen      []int32 `json:"chosen"`
		Rejected    []int32 `json:"rejected"`
		RefChosen   float64 `json:"ref_chosen"`
		RefRejected float64 `json:"ref_rejected"`
	}
	// Reference log-probs are arbitrary constants near the policy's values
	// (about −4 per token for V = 64), so σ(−u) is away from 0 and 1.
	pairs := []jpair{
		{toks(4), toks(6), toks(9), -25, -37},
		{toks(1), toks(3), toks(3), -11.5, -13},
		{toks(10), toks(12), toks(5), -50, -19},
	}
	pairPath := filepath.Join(dir, "pairs.json")
	writeJSON(t, pairPath, map[string]any{"loss": "dpo", "beta": beta, "pairs": pairs})
	out := filepath.Join(dir, "dpo.safetensors")
	f := runOracle(t, out, "--dtype", "float64", "--pref", pairPath, ckpt, out)

	m := New[float64](cfg)
	for i, p := range params {
		m.Params[i] = float64(p)
	}
	ws := m.NewWorkspace()
	grad := make([]float64, len(m.Params))
	P := float64(len(pairs))
	var loss float64
	for _, p := range pairs {
		k := len(p.Prompt)
		chosen := append(append([]int32(nil), p.Prompt...), p.Chosen...)
		rejected := append(append([]int32(nil), p.Prompt...), p.Rejected...)
		sum := func(v []float64) (s float64) {
			for _, x := range v {
				s += x
			}
			return s
		}
		zw := sum(ws.Forward(chosen, k))
		zl := sum(ws.Forward(rejected, k))
		u := beta * ((zw - p.RefChosen) - (zl - p.RefRejected))
		loss += -math.Log(1/(1+math.Exp(-u))) / P
		s := beta / (1 + math.Exp(u)) / P // βσ(−u)/P
		fill := func(n int, v float64) []float64 {
			d := make([]float64, n)
			for i := range d {
				d[i] = v
			}
			return d
		}
		ws.Forward(chosen, k)
		ws.Backward(grad, fill(len(p.Chosen), -s))
		ws.Forward(rejected, k)
		ws.Backward(grad, fill(len(p.Rejected), s))
	}
	if want := oracleFloats(t, f, "loss"); math.Abs(loss-want[0]) > torchtest.Tol64*math.Abs(want[0]) {
		t.Errorf("DPO loss = %.15g, torch %.15g", loss, want[0])
	}
	for _, x := range Tensors(cfg) {
		if e := torchtest.RelErr(ViewOf(grad, cfg, x.Name), oracleFloats(t, f, "grad."+x.Name)); e > torchtest.Tol64 {
			t.Errorf("DPO grad %s rel err %.3g > %.0e", x.Name, e, torchtest.Tol64)
		}
	}
}
