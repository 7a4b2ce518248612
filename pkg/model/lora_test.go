package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// loraTestSites adapts a row block of the fused qkv (like Llama's k_proj),
// the whole attention projection and the MLP's down projection of every
// layer, with different row counts and input widths.
func loraTestSites(cfg Config) []LoRASite {
	var s []LoRASite
	C, F, hs := cfg.C, cfg.MLPWidth(), cfg.C/cfg.H
	KC := cfg.KVHeads() * hs
	for l := 0; l < cfg.L; l++ {
		p := "h." + string(rune('0'+l)) + "."
		s = append(s,
			LoRASite{Name: p + "k", Tensor: p + "attn.qkv.w", Row0: C, Out: KC, In: C},
			LoRASite{Name: p + "o", Tensor: p + "attn.proj.w", Out: C, In: C},
			LoRASite{Name: p + "down", Tensor: p + "mlp.proj.w", Out: C, In: F})
	}
	return s
}

// randomLoRA returns adapters with random A and B (B = 0 would make dA zero).
func randomLoRA(t *testing.T, m *Model[float64], r int, alpha float64, seed uint64) *LoRA[float64] {
	t.Helper()
	a, err := NewLoRA(m, r, alpha, loraTestSites(m.Cfg))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	for i := range a.Params {
		a.Params[i] = 0.3 * rng.NormFloat64()
	}
	return a
}

// TestLoRAGrad: the adapter gradient (LoRA.Grad of the merged model's
// gradient) against central differences of Σ_j r_j·lp_j in A and B, float64,
// every family; the merged function is the unmerged one (W₀·x + s·B·A·x
// computed with an explicit second Linear in a float64 reference is what
// the torch oracle checks; here W = W₀ + s·B·A is checked elementwise).
func TestLoRAGrad(t *testing.T) {
	cfgs := familyCfgs()
	cfgs["gpt2"] = testCfg(false)
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			m := randomModel(cfg, 11)
			w0 := slices.Clone(m.Params)
			a := randomLoRA(t, m, 3, 5, 4)
			rng := rand.New(rand.NewPCG(12, 0))
			s := randSeq(rng, cfg.V, 6, 2)
			ws := m.NewWorkspace()
			r := randVec(rng, len(s.Tokens)-s.RespStart, 1)
			loss := func() float64 { a.Merge(); return dot(r, ws.Forward(s.Tokens, s.RespStart)) }
			loss()
			// the merge, by hand for one element of every site
			for i, st := range a.Sites {
				A, B := a.AB(a.Params, i)
				o, j := st.Out-1, st.In/2
				var d float64
				for k := 0; k < a.R; k++ {
					d += B[o*a.R+k] * A[k*st.In+j]
				}
				off := a.wOffs[i] + o*st.In + j
				if want := w0[off] + a.Scale()*d; math.Abs(m.Params[off]-want) > 1e-14 {
					t.Fatalf("%s merged W[%d,%d] = %v, want %v", st.Name, o, j, m.Params[off], want)
				}
			}
			grad := make([]float64, len(m.Params))
			ws.Backward(grad, r)
			ag := make([]float64, len(a.Params))
			a.Grad(ag, grad)
			checkGrads(t, loss, []string{"adapters"}, [][]float64{a.Params}, [][]float64{ag})
			// GradParallel gives the same bits
			ag2 := make([]float64, len(a.Params))
			a.GradParallel(ag2, grad)
			if !slices.Equal(ag, ag2) {
				t.Error("GradParallel differs from Grad")
			}
			// Unmerge restores W₀ exactly
			a.Unmerge()
			if !slices.Equal(m.Params, w0) {
				t.Error("Unmerge did not restore the base weights")
			}
		})
	}
}

// TestLoRAIdentities: for any G, dB = s·G·Aᵀ and dA = s·Bᵀ·G computed
// element by element in the (out, in) orientation; the first-order change
// of the merged weight under the adapter step (−η dA, −η dB) has inner
// product −η(‖dA‖² + ‖dB‖²) with G (the chain rule ⟨G, ∂W/∂θ·δθ⟩ = ⟨∂ℓ/∂θ, δθ⟩).
func TestLoRAIdentities(t *testing.T) {
	cfg := familyCfgs()["llama-gqa-tied"]
	m := randomModel(cfg, 5)
	a := randomLoRA(t, m, 2, 3, 6)
	rng := rand.New(rand.NewPCG(7, 0))
	G := randVec(rng, len(m.Params), 1)
	ag := make([]float64, len(a.Params))
	a.Grad(ag, G)
	s := a.Scale()
	for i, st := range a.Sites {
		A, B := a.AB(a.Params, i)
		dA, dB := a.AB(ag, i)
		g := G[a.wOffs[i] : a.wOffs[i]+st.Out*st.In]
		for k := 0; k < a.R; k++ {
			for j := 0; j < st.In; j++ {
				var want float64
				for o := 0; o < st.Out; o++ {
					want += B[o*a.R+k] * g[o*st.In+j]
				}
				if math.Abs(dA[k*st.In+j]-s*want) > 1e-12 {
					t.Fatalf("%s dA[%d,%d] = %v, want %v", st.Name, k, j, dA[k*st.In+j], s*want)
				}
			}
		}
		for o := 0; o < st.Out; o++ {
			for k := 0; k < a.R; k++ {
				var want float64
				for j := 0; j < st.In; j++ {
					want += g[o*st.In+j] * A[k*st.In+j]
				}
				if math.Abs(dB[o*a.R+k]-s*want) > 1e-12 {
					t.Fatalf("%s dB[%d,%d] = %v, want %v", st.Name, o, k, dB[o*a.R+k], s*want)
				}
			}
		}
	}
	// directional derivative of ⟨G, W(θ)⟩ along −ag equals −‖ag‖²
	w0 := slices.Clone(a.Params)
	f := func(eps float64) float64 {
		for i := range a.Params {
			a.Params[i] = w0[i] - eps*ag[i]
		}
		a.Merge()
		return dot(G, m.Params)
	}
	h := 1e-4
	num := (f(h) - f(-h)) / (2 * h)
	want := -dot(ag, ag)
	if math.Abs(num-want) > 1e-6*math.Abs(want) {
		t.Errorf("directional derivative %v, want −‖∇‖² = %v", num, want)
	}
}

// TestLoRAInit: A within ±1/√in with both signs, B zero (so the merged model
// is the base model bit for bit), the same draw for the same seed.
func TestLoRAInit(t *testing.T) {
	cfg := testCfg(false)
	m := randomModel(cfg, 1)
	w0 := slices.Clone(m.Params)
	a, err := NewLoRA(m, 4, 8, loraTestSites(cfg))
	if err != nil {
		t.Fatal(err)
	}
	a.Init(9)
	first := slices.Clone(a.Params)
	a.Init(9)
	if !slices.Equal(first, a.Params) {
		t.Fatal("Init is not deterministic")
	}
	for i, st := range a.Sites {
		A, B := a.AB(a.Params, i)
		bound := 1 / math.Sqrt(float64(st.In))
		if slices.Max(A) > bound || slices.Min(A) < -bound || slices.Max(A) <= 0 || slices.Min(A) >= 0 {
			t.Errorf("%s: A in [%v, %v], want within ±%v with both signs", st.Name, slices.Min(A), slices.Max(A), bound)
		}
		if slices.Max(absAll(B)) != 0 {
			t.Errorf("%s: B not zero", st.Name)
		}
	}
	a.Merge()
	if !slices.Equal(m.Params, w0) {
		t.Error("merging zero B changed the model")
	}
	if a.Scale() != 2 {
		t.Errorf("scale %v, want α/r = 2", a.Scale())
	}
	if got := a.Tensors(); len(got) != 2*len(a.Sites) || got[1].Name != "h.0.k.lora_B" || got[len(got)-1].Offset+got[len(got)-1].Size != len(a.Params) {
		t.Errorf("adapter tensor table %+v", got[:2])
	}
	// refused sites
	for _, bad := range [][]LoRASite{
		{{Name: "x", Tensor: "h.0.attn.qkv.w", Row0: 20, Out: 8, In: 8}},                                                       // rows beyond Q3 = 24
		{{Name: "x", Tensor: "h.0.attn.qkv.w", Out: 8, In: 4}},                                                                 // wrong in
		{{Name: "x", Tensor: "h.0.ln1.w", Out: 8, In: 1}},                                                                      // not a matrix
		{{Name: "x", Tensor: "h.0.attn.qkv.w", Out: 16, In: 8}, {Name: "y", Tensor: "h.0.attn.qkv.w", Row0: 8, Out: 8, In: 8}}, // overlap
	} {
		if _, err := NewLoRA(m, 2, 2, bad); err == nil {
			t.Errorf("sites %+v accepted", bad)
		}
	}
}

// TestLoRAFloat32: the float32 merge and gradient (gemm kernels) agree with
// float64 to float32 rounding, and are the same bits for any GOMAXPROCS.
func TestLoRAFloat32(t *testing.T) {
	cfg := familyCfgs()["llama-mqa-bias"]
	m64 := randomModel(cfg, 2)
	a64 := randomLoRA(t, m64, 3, 6, 3)
	m32 := New[float32](cfg)
	for i, v := range m64.Params {
		m32.Params[i] = float32(v)
	}
	a32, err := NewLoRA(m32, 3, 6, loraTestSites(cfg))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range a64.Params {
		a32.Params[i] = float32(v)
	}
	a64.Merge()
	a32.Merge()
	for i := range m64.Params {
		if math.Abs(float64(m32.Params[i])-m64.Params[i]) > 1e-5*(1+math.Abs(m64.Params[i])) {
			t.Fatalf("merged param %d: %v vs %v", i, m32.Params[i], m64.Params[i])
		}
	}
	rng := rand.New(rand.NewPCG(8, 0))
	G := randVec(rng, len(m64.Params), 1)
	G32 := make([]float32, len(G))
	for i, v := range G {
		G32[i] = float32(v)
	}
	g64 := make([]float64, len(a64.Params))
	g32 := make([]float32, len(a32.Params))
	a64.Grad(g64, G)
	a32.GradParallel(g32, G32)
	for i := range g64 {
		if math.Abs(float64(g32[i])-g64[i]) > 1e-4*(1+math.Abs(g64[i])) {
			t.Fatalf("adapter grad %d: %v vs %v", i, g32[i], g64[i])
		}
	}
	serial := make([]float32, len(g32))
	a32.Grad(serial, G32)
	if !slices.Equal(serial, g32) {
		t.Error("float32 GradParallel differs from Grad")
	}
}

// TestLoRABackward: the adapter-only backward (LoRA.BackwardSet: no base
// gradient formed) against central differences of Σ_j r_j·lp_j in A and B,
// float64, every family (GPT-2 with a row block of its fused qkv and the
// MLP's down projection, whose input is the MLP width); it equals the
// projection of the full gradient (LoRA.Grad) to rounding, and leaves the
// workspace doing full backwards afterwards.
func TestLoRABackward(t *testing.T) {
	cfgs := familyCfgs()
	cfgs["gpt2"] = testCfg(false)
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			m := randomModel(cfg, 21)
			a := randomLoRA(t, m, 3, 5, 22)
			rng := rand.New(rand.NewPCG(23, 0))
			s := randSeq(rng, cfg.V, 6, 2)
			ws := m.NewWorkspace()
			r := randVec(rng, len(s.Tokens)-s.RespStart, 1)
			loss := func() float64 { a.Merge(); return dot(r, ws.Forward(s.Tokens, s.RespStart)) }
			loss()
			params := slices.Clone(m.Params)
			ag := make([]float64, len(a.Params))
			for i := range ag {
				ag[i] = math.NaN() // BackwardSet sets, not adds
			}
			a.BackwardSet(ws, ag, r)
			if !slices.Equal(m.Params, params) {
				t.Fatal("BackwardSet changed the model's parameters")
			}
			checkGrads(t, loss, []string{"adapters"}, [][]float64{a.Params}, [][]float64{ag})
			loss()
			a.BackwardSet(ws, ag, r)
			twice := slices.Clone(ag)
			a.Backward(ws, twice, r) // adds
			for i := range ag {
				if twice[i] != 2*ag[i] {
					t.Fatalf("Backward does not add: %v after %v", twice[i], ag[i])
				}
			}
			full := make([]float64, len(m.Params))
			ws.Backward(full, r)
			want := make([]float64, len(a.Params))
			a.Grad(want, full)
			if e := relErr(ag, want); e > 1e-12 {
				t.Errorf("BackwardSet vs Grad of the full gradient: relErr %.3g", e)
			}
			var nz int
			for _, v := range full {
				if v != 0 {
					nz++
				}
			}
			if nz < len(full)/2 {
				t.Errorf("a Backward after BackwardSet filled only %d of %d gradient values", nz, len(full))
			}
		})
	}
}

// TestLoRABackwardFloat32: the float32 adapter-only backward agrees with
// float64 to float32 rounding and is the same bits for any number of
// kernel goroutines, with packed or unpacked weights.
func TestLoRABackwardFloat32(t *testing.T) {
	for name, cfg := range familyCfgs() {
		t.Run(name, func(t *testing.T) {
			cfg.T = 40
			m64 := randomModel(cfg, 31)
			a64 := randomLoRA(t, m64, 4, 8, 32)
			m32 := New[float32](cfg)
			for i, v := range m64.Params {
				m32.Params[i] = float32(v)
			}
			a32, err := NewLoRA(m32, 4, 8, loraTestSites(cfg))
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range a64.Params {
				a32.Params[i] = float32(v)
			}
			a64.Merge()
			a32.Merge()
			rng := rand.New(rand.NewPCG(33, 0))
			s := randSeq(rng, cfg.V, 37, 20)
			r := randVec(rng, len(s.Tokens)-s.RespStart, 1)
			r32 := make([]float32, len(r))
			for i, v := range r {
				r32[i] = float32(v)
			}
			ws64 := m64.NewWorkspace()
			ws64.Forward(s.Tokens, s.RespStart)
			g64 := make([]float64, len(a64.Params))
			a64.BackwardSet(ws64, g64, r)
			var ref []float32
			for _, packed := range []bool{false, true} {
				if packed {
					m32.PackWeights()
				}
				for _, procs := range []int{1, 2, 3} {
					ws := m32.newWorkspace(procs)
					ws.Forward(s.Tokens, s.RespStart)
					g := make([]float32, len(a32.Params))
					a32.BackwardSet(ws, g, r32)
					if ref == nil {
						ref = g
						var num, den float64
						for i := range g64 {
							d := float64(g[i]) - g64[i]
							num += d * d
							den += g64[i] * g64[i]
						}
						if e := math.Sqrt(num / den); e > 1e-4 || den == 0 {
							t.Errorf("float32 vs float64: relative error %.3g (norm² %v)", e, den)
						}
					} else if !slices.Equal(g, ref) {
						t.Errorf("procs %d packed %v: adapter gradient bits differ", procs, packed)
					}
				}
			}
			m32.UnpackWeights()
		})
	}
}
