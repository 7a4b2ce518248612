package model

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// testCfg is a tiny model with all the structure of the real ones (2 blocks, 2 heads).
func testCfg(tied bool) Config { return Config{V: 11, T: 6, C: 8, L: 2, H: 2, Tied: tied} }

// randomModel returns a float64 model whose parameters are all random, with
// scale 0.3 (LayerNorm weights 1 ± 0.3) so that every tensor gets a gradient
// of order one; GPT-2's init would make most gradients tiny.
func randomModel(cfg Config, seed uint64) *Model[float64] {
	m := New[float64](cfg)
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, t := range Tensors(cfg) {
		p := m.Params[t.Offset : t.Offset+t.Size]
		for i := range p {
			p[i] = 0.3 * rng.NormFloat64()
			if strings.HasSuffix(t.Name, "ln1.w") || strings.HasSuffix(t.Name, "ln2.w") || t.Name == "lnf.w" {
				p[i]++
			}
		}
	}
	return m
}

func randSeq(rng *rand.Rand, V, n, respStart int) Seq {
	tok := make([]int32, n)
	for i := range tok {
		tok[i] = int32(rng.IntN(V))
	}
	return Seq{Tokens: tok, RespStart: respStart}
}

func TestTensorTable(t *testing.T) {
	// Parameter counts of the untied S and M models as PyTorch reports them
	// for the same architecture (scripts/bench/torch_step.py's model).
	for _, tc := range []struct {
		name string
		want int
	}{{"S", 470528}, {"M", 3454464}} {
		cfg, err := Preset(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Tied = false
		if got := NumParams(cfg); got != tc.want {
			t.Errorf("NumParams(%s untied) = %d, want %d", tc.name, got, tc.want)
		}
		cfg.Tied = true
		if got := NumParams(cfg); got != tc.want-cfg.V*cfg.C {
			t.Errorf("NumParams(%s tied) = %d, want %d", tc.name, got, tc.want-cfg.V*cfg.C)
		}
	}
	ts := Tensors(Config{V: 5, T: 4, C: 2, L: 1, H: 1})
	var names []string
	off := 0
	for _, x := range ts {
		names = append(names, x.Name)
		if x.Offset != off {
			t.Errorf("%s: offset %d, want %d", x.Name, x.Offset, off)
		}
		off += x.Size
	}
	want := []string{"wte", "wpe", "h.0.ln1.w", "h.0.ln1.b", "h.0.attn.qkv.w", "h.0.attn.qkv.b", "h.0.attn.proj.w",
		"h.0.attn.proj.b", "h.0.ln2.w", "h.0.ln2.b", "h.0.mlp.fc.w", "h.0.mlp.fc.b", "h.0.mlp.proj.w", "h.0.mlp.proj.b",
		"lnf.w", "lnf.b", "lm_head.w"}
	if !slices.Equal(names, want) {
		t.Errorf("names = %v, want %v", names, want)
	}
	if _, err := Preset("XL"); err == nil {
		t.Error("Preset(XL) succeeded")
	}
	for _, bad := range []Config{{V: 0, T: 4, C: 2, L: 1, H: 1}, {V: 5, T: 4, C: 6, L: 1, H: 4}, {V: 5, T: 1, C: 2, L: 1, H: 1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v.Validate() = nil, want an error", bad)
		}
	}
}

func TestInit(t *testing.T) {
	cfg, _ := Preset("S")
	a, b := New[float32](cfg), New[float32](cfg)
	a.Init(3)
	b.Init(3)
	if !slices.Equal(a.Params, b.Params) {
		t.Fatal("Init(3) twice gave different parameters")
	}
	b.Init(4)
	if slices.Equal(a.Params, b.Params) {
		t.Fatal("Init(3) and Init(4) gave identical parameters")
	}
	std := func(x []float32) float64 {
		var s float64
		for _, v := range x {
			s += float64(v) * float64(v)
		}
		return math.Sqrt(s / float64(len(x)))
	}
	// sample std of 32768 (or 16384) normals is within a few % of the target
	for _, tc := range []struct {
		name string
		want float64
	}{{"wte", 0.02}, {"h.1.attn.qkv.w", 0.02}, {"h.0.attn.proj.w", 0.01}, {"h.1.mlp.proj.w", 0.01}} {
		if got := std(a.View(tc.name)); math.Abs(got-tc.want) > 0.05*tc.want {
			t.Errorf("std(%s) = %.4f, want %.4f (0.02/sqrt(2L) for residual projections)", tc.name, got, tc.want)
		}
	}
	for _, name := range []string{"h.0.ln1.w", "lnf.w"} {
		for _, v := range a.View(name) {
			if v != 1 {
				t.Fatalf("%s has %v, want 1", name, v)
			}
		}
	}
	for _, name := range []string{"h.0.ln1.b", "h.0.attn.qkv.b", "h.1.mlp.fc.b", "lnf.b"} {
		for _, v := range a.View(name) {
			if v != 0 {
				t.Fatalf("%s has %v, want 0", name, v)
			}
		}
	}
}

// TestModelGrad checks ∇θ Σ_j r_j·lp_j against central differences on ~50
// parameters: the first element of every tensor plus random ones. Same error
// measure and tolerance as the kernel checks, over the sampled components.
func TestModelGrad(t *testing.T) {
	for _, tied := range []bool{true, false} {
		cfg := testCfg(tied)
		m := randomModel(cfg, 11)
		rng := rand.New(rand.NewPCG(12, 0))
		s := randSeq(rng, cfg.V, 6, 2)
		s.Tokens[1], s.Tokens[4] = 3, 3 // a repeated token
		ws := m.NewWorkspace()
		r := randVec(rng, len(s.Tokens)-s.RespStart, 1)
		loss := func() float64 { return dot(r, ws.Forward(s.Tokens, s.RespStart)) }
		loss()
		grad := make([]float64, len(m.Params))
		ws.Backward(grad, r)

		var idx []int
		for _, x := range Tensors(cfg) {
			idx = append(idx, x.Offset, x.Offset+rng.IntN(x.Size))
		}
		for len(idx) < 60 {
			idx = append(idx, rng.IntN(len(m.Params)))
		}
		a, n := make([]float64, len(idx)), make([]float64, len(idx))
		for k, i := range idx {
			a[k] = grad[i]
			old := m.Params[i]
			m.Params[i] = old + fdStep
			lp := loss()
			m.Params[i] = old - fdStep
			lm := loss()
			m.Params[i] = old
			n[k] = (lp - lm) / (2 * fdStep)
		}
		if e := relErr(a, n); e > fdRelTol {
			t.Errorf("tied=%v: relErr = %.3g, want ≤ %g", tied, e, fdRelTol)
		}
		// each tensor must actually get a gradient (the check is not vacuous)
		for _, x := range Tensors(cfg) {
			if slices.Max(absAll(grad[x.Offset:x.Offset+x.Size])) == 0 {
				t.Errorf("tied=%v: %s has an all-zero gradient", tied, x.Name)
			}
		}
	}
}

func absAll(x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = math.Abs(v)
	}
	return y
}

// TestPerTokenAndHead checks that one-hot dlogp gradients sum to the all-ones
// gradient, and that lp equals the log-softmax of the full LM head applied to
// Hidden() at every position.
func TestPerTokenAndHead(t *testing.T) {
	for _, tied := range []bool{true, false} {
		cfg := testCfg(tied)
		m := randomModel(cfg, 21)
		rng := rand.New(rand.NewPCG(22, 0))
		s := randSeq(rng, cfg.V, 6, 2)
		ws := m.NewWorkspace()
		lp := slices.Clone(ws.Forward(s.Tokens, s.RespStart))
		R := len(lp)
		ones := make([]float64, R)
		for j := range ones {
			ones[j] = 1
		}
		g := make([]float64, len(m.Params))
		ws.Backward(g, ones)
		sum := make([]float64, len(m.Params))
		for j := 0; j < R; j++ {
			oh := make([]float64, R)
			oh[j] = 1
			gj := make([]float64, len(m.Params))
			ws.Backward(gj, oh)
			for i := range sum {
				sum[i] += gj[i]
			}
		}
		// the two sides differ only by float64 summation order
		if e := relErr(sum, g); e > 1e-12 {
			t.Errorf("tied=%v: Σ per-token grads vs grad: relErr %.3g", tied, e)
		}

		hid := ws.Hidden()
		n := len(s.Tokens)
		head := m.View("wte")
		if !tied {
			head = m.View("lm_head.w")
		}
		logits := make([]float64, n*cfg.V)
		matmulForwardNaive(logits, hid, head, nil, n, cfg.C, cfg.V)
		for j := 0; j < R; j++ {
			row := logits[(s.RespStart-1+j)*cfg.V : (s.RespStart+j)*cfg.V]
			var z float64
			for _, v := range row {
				z += math.Exp(v)
			}
			want := row[s.Tokens[s.RespStart+j]] - math.Log(z)
			if math.Abs(lp[j]-want) > 1e-12 {
				t.Errorf("tied=%v: lp[%d] = %v, full head gives %v", tied, j, lp[j], want)
			}
		}
	}
}

// TestFloat32MatchesFloat64 runs the S-shaped model (GPT-2 init) in both
// precisions on the same weights. Log-probs are ~ -log V ≈ -5.5 and go through
// ~20 float32 ops per element with sums of ≤ 4C terms, so we allow 1e-4 relative
// (≈ 800 float32 ulps); the gradient (max-norm relative) gets 1e-3 because
// the backward pass accumulates over T and through more layers.
func TestFloat32MatchesFloat64(t *testing.T) {
	cfg, _ := Preset("S")
	cfg.Tied = false
	m32 := New[float32](cfg)
	m32.Init(5)
	m64 := New[float64](cfg)
	for i, v := range m32.Params {
		m64.Params[i] = float64(v)
	}
	rng := rand.New(rand.NewPCG(6, 0))
	s := randSeq(rng, cfg.V, cfg.T, 16)
	lp32 := m32.NewWorkspace().Forward(s.Tokens, s.RespStart)
	ws64 := m64.NewWorkspace()
	lp64 := ws64.Forward(s.Tokens, s.RespStart)
	a := make([]float64, len(lp32))
	for i, v := range lp32 {
		a[i] = float64(v)
	}
	if e := relErr(a, lp64); e > 1e-4 {
		t.Errorf("log-probs: relErr %.3g, want ≤ 1e-4", e)
	}
	ones32 := make([]float32, len(lp32))
	ones64 := make([]float64, len(lp32))
	for i := range ones32 {
		ones32[i], ones64[i] = 1, 1
	}
	g32 := make([]float32, len(m32.Params))
	g64 := make([]float64, len(m64.Params))
	ws32 := m32.NewWorkspace()
	ws32.Forward(s.Tokens, s.RespStart)
	ws32.Backward(g32, ones32)
	ws64.Backward(g64, ones64)
	for _, x := range Tensors(cfg) {
		a := make([]float64, x.Size)
		for i := range a {
			a[i] = float64(g32[x.Offset+i])
		}
		if e := relErr(a, g64[x.Offset:x.Offset+x.Size]); e > 1e-3 {
			t.Errorf("grad %s: relErr %.3g, want ≤ 1e-3", x.Name, e)
		}
	}
}

// TestOverfit trains one sequence with plain SGD on its log-prob (tiny preset).
// The initial log π is about R·(-log V) = 16·(-4.16) ≈ -66.5; after 80 steps at
// lr 0.25 it must exceed -5 (mean token probability > 0.73).
func TestOverfit(t *testing.T) {
	cfg, _ := Preset("tiny")
	m := New[float64](cfg)
	m.Init(1)
	rng := rand.New(rand.NewPCG(2, 0))
	s := randSeq(rng, cfg.V, 24, 8)
	ws := m.NewWorkspace()
	ones := make([]float64, 16)
	for i := range ones {
		ones[i] = 1
	}
	g := make([]float64, len(m.Params))
	sumLP := func() float64 {
		var x float64
		for _, v := range ws.Forward(s.Tokens, s.RespStart) {
			x += v
		}
		return x
	}
	first := sumLP()
	prev, drops := first, 0
	for step := 0; step < 80; step++ {
		cur := sumLP()
		if cur < prev-1e-9 {
			drops++
		}
		prev = cur
		clear(g)
		ws.Backward(g, ones)
		for i := range m.Params {
			m.Params[i] += 0.25 / 16 * g[i] // ascend the mean token log-prob
		}
	}
	last := sumLP()
	t.Logf("log π: %.3f -> %.3f, %d drops", first, last, drops)
	if last < -5 || drops > 5 {
		t.Errorf("log π went %.3f -> %.3f with %d drops, want > -5 and ≤ 5 drops", first, last, drops)
	}
}

// TestDeterminism: workspace kernels split across 1, 2 or 3 goroutines, and
// AccumulateGrads under GOMAXPROCS 1 and 2, give identical bits; the batch
// helpers agree with per-sequence Forward/Backward up to summation order.
func TestDeterminism(t *testing.T) {
	cfg, _ := Preset("tiny")
	cfg.Tied = false
	m := New[float32](cfg)
	m.Init(9)
	defer m.Close()
	rng := rand.New(rand.NewPCG(10, 0))
	var seqs []Seq
	var dl [][]float32
	for i := 0; i < 7; i++ {
		n := 5 + rng.IntN(cfg.T-4)
		s := randSeq(rng, cfg.V, n, 1+rng.IntN(n-1))
		seqs = append(seqs, s)
		d := make([]float32, n-s.RespStart)
		for j := range d {
			d[j] = float32(rng.NormFloat64())
		}
		dl = append(dl, d)
	}
	var ref []float32
	defer func(v int) { splitColsMin = v }(splitColsMin)
	for _, mode := range []string{"unpacked", "packed", "packed, split by columns"} {
		packed := mode != "unpacked"
		if packed {
			m.PackWeights() // packed weights must not change a bit
		}
		if mode == "packed, split by columns" {
			splitColsMin = 0 // every packed product's goroutines split columns
		}
		for _, procs := range []int{1, 2, 3} {
			ws := m.newWorkspace(procs)
			g := make([]float32, len(m.Params))
			for i, s := range seqs {
				ws.Forward(s.Tokens, s.RespStart)
				ws.Backward(g, dl[i])
			}
			if ref == nil {
				ref = g
			} else if !slices.Equal(g, ref) {
				t.Errorf("workspace with %d goroutines, %s: gradient bits differ from 1 goroutine unpacked", procs, mode)
			}
		}
	}
	m.UnpackWeights()
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	var batch []float32
	for _, p := range []int{1, 2} {
		runtime.GOMAXPROCS(p)
		g := make([]float32, len(m.Params))
		m.AccumulateGrads(g, seqs, dl)
		if batch == nil {
			batch = g
		} else if !slices.Equal(g, batch) {
			t.Errorf("AccumulateGrads under GOMAXPROCS(%d) differs from GOMAXPROCS(1)", p)
		}
	}
	a, n := make([]float64, len(ref)), make([]float64, len(ref))
	for i := range ref {
		a[i], n[i] = float64(batch[i]), float64(ref[i])
	}
	// same terms, different float32 summation order: ~1e-6 relative
	if e := relErr(a, n); e > 1e-5 {
		t.Errorf("AccumulateGrads vs sequential Backward: relErr %.3g", e)
	}
	lps := m.LogProbs(seqs)
	ws := m.NewWorkspace()
	for i, s := range seqs {
		if want := ws.Forward(s.Tokens, s.RespStart); !slices.Equal(lps[i], want) {
			t.Errorf("LogProbs[%d] = %v, want %v", i, lps[i], want)
		}
	}
}

func TestAccumulateGradsAllocs(t *testing.T) {
	cfg, _ := Preset("tiny")
	m := New[float32](cfg)
	m.Init(1)
	defer m.Close()
	rng := rand.New(rand.NewPCG(1, 0))
	seqs := make([]Seq, 6)
	dl := make([][]float32, 6)
	for i := range seqs {
		seqs[i] = randSeq(rng, cfg.V, cfg.T, 8)
		dl[i] = make([]float32, cfg.T-8)
	}
	g := make([]float32, len(m.Params))
	m.AccumulateGrads(g, seqs, dl)
	if a := testing.AllocsPerRun(5, func() { m.AccumulateGrads(g, seqs, dl) }); a != 0 {
		t.Errorf("AccumulateGrads allocates %v times per call, want 0", a)
	}
	ws := m.newWorkspace(1)
	ws.Forward(seqs[0].Tokens, 8)
	ws.Backward(g, dl[0])
	if a := testing.AllocsPerRun(5, func() { ws.Forward(seqs[0].Tokens, 8); ws.Backward(g, dl[0]) }); a != 0 {
		t.Errorf("serial Forward+Backward allocates %v times, want 0", a)
	}
}

func TestPanics(t *testing.T) {
	cfg := testCfg(true)
	m := New[float64](cfg)
	ws := m.NewWorkspace()
	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"too long", func() { ws.Forward(make([]int32, cfg.T+1), 1) }, "model: sequence longer than the context"},
		{"respStart 0", func() { ws.Forward(make([]int32, 3), 0) }, "model: response start outside [1, len(tokens))"},
		{"respStart n", func() { ws.Forward(make([]int32, 3), 3) }, "model: response start outside [1, len(tokens))"},
		{"token", func() { ws.Forward([]int32{0, int32(cfg.V)}, 1) }, "model: token outside [0, vocab_size)"},
		{"negative token", func() { ws.Forward([]int32{-1, 0}, 1) }, "model: token outside [0, vocab_size)"},
		{"dlogp", func() {
			ws.Forward([]int32{0, 1, 2}, 1)
			ws.Backward(make([]float64, len(m.Params)), make([]float64, 1))
		}, "model: dlogp length does not match the response length"},
		{"batch", func() {
			m.AccumulateGrads(make([]float64, len(m.Params)), []Seq{{Tokens: []int32{0, 1}, RespStart: 1}}, nil)
		},
			"model: dlogps and seqs lengths differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != tc.want {
					t.Errorf("panic = %v, want %q", r, tc.want)
				}
			}()
			tc.f()
		})
	}
}

// TestBackwardSet: BackwardSet into a buffer full of garbage gives the bits
// of clear + Backward, for tied and untied heads and a sequence shorter than
// T (rows of wpe the encoder does not touch must be zeroed too).
func TestBackwardSet(t *testing.T) {
	for _, tied := range []bool{true, false} {
		cfg, _ := Preset("tiny")
		cfg.Tied = tied
		m := New[float32](cfg)
		m.Init(4)
		rng := rand.New(rand.NewPCG(12, 0))
		s := randSeq(rng, cfg.V, cfg.T-5, 7)
		d := make([]float32, len(s.Tokens)-s.RespStart)
		for j := range d {
			d[j] = float32(rng.NormFloat64())
		}
		ws := m.NewSerialWorkspace()
		ws.Forward(s.Tokens, s.RespStart)
		want := make([]float32, len(m.Params))
		ws.Backward(want, d)
		got := make([]float32, len(m.Params))
		for i := range got {
			got[i] = float32(rng.NormFloat64())
		}
		ws.BackwardSet(got, d)
		if !slices.Equal(got, want) {
			t.Errorf("tied=%v: BackwardSet differs from clear + Backward", tied)
		}
	}
}
