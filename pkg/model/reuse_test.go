package model

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestForwardReuse: ForwardReuse after a Forward of a sequence sharing a
// prefix gives the same log-probs and (through Backward) the same gradient
// as a plain Forward, for every split point p (0 = nothing shared, up to the
// whole sequence), tied and untied heads, with and without a Backward in
// between. float64 kernels compute each row independently of the others, so
// the results must agree to the bit; the float32 check allows rounding of a
// different tiling by the fast GEMM (relative 1e-6, far below the 1e-4 that
// separates float32 from float64 in TestFloat32MatchesFloat64).
func TestForwardReuse(t *testing.T) {
	for _, tied := range []bool{true, false} {
		cfg := testCfg(tied)
		m := randomModel(cfg, 21)
		rng := rand.New(rand.NewPCG(22, 0))
		const rs = 2
		for p := 0; p <= cfg.T; p++ {
			a := randSeq(rng, cfg.V, cfg.T, rs)
			b := Seq{Tokens: append([]int32(nil), a.Tokens...), RespStart: rs}
			for i := p; i < cfg.T; i++ {
				b.Tokens[i] = (a.Tokens[i] + 1 + int32(rng.IntN(cfg.V-1))) % int32(cfg.V) // differs from a at i
			}
			ones := make([]float64, cfg.T-rs)
			for i := range ones {
				ones[i] = 1
			}
			// plain
			ws := m.NewWorkspace()
			want := append([]float64(nil), ws.Forward(b.Tokens, rs)...)
			gWant := make([]float64, len(m.Params))
			ws.Backward(gWant, ones)
			for _, between := range []bool{false, true} {
				ws2 := m.NewSerialWorkspace()
				ws2.Forward(a.Tokens, rs)
				if between {
					ws2.Backward(make([]float64, len(m.Params)), ones)
				}
				got, reused := ws2.ForwardReuse(b.Tokens, rs)
				if reused != p {
					t.Fatalf("tied %v p %d: reused %d positions", tied, p, reused)
				}
				for i := range want {
					if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
						t.Fatalf("tied %v p %d: lp[%d] = %v, plain Forward %v", tied, p, i, got[i], want[i])
					}
				}
				g := make([]float64, len(m.Params))
				ws2.Backward(g, ones)
				for i := range g {
					if math.Float64bits(g[i]) != math.Float64bits(gWant[i]) {
						t.Fatalf("tied %v p %d: grad[%d] = %v, plain %v", tied, p, i, g[i], gWant[i])
					}
				}
				if h, hw := ws2.Hidden(), ws.Hidden(); len(h) != len(hw) || h[len(h)-1] != hw[len(hw)-1] {
					t.Fatalf("tied %v p %d: hidden states differ", tied, p)
				}
			}
		}
	}
}

// TestForwardReuseFallback: a different length or response start is a plain
// Forward (nothing reused).
func TestForwardReuseFallback(t *testing.T) {
	cfg := testCfg(false)
	m := randomModel(cfg, 23)
	rng := rand.New(rand.NewPCG(24, 0))
	a := randSeq(rng, cfg.V, cfg.T, 2)
	ws := m.NewWorkspace()
	if _, r := ws.ForwardReuse(a.Tokens, 2); r != 0 {
		t.Errorf("first call reused %d positions", r)
	}
	for _, c := range []struct{ n, rs int }{{cfg.T - 1, 2}, {cfg.T, 3}} {
		ws.Forward(a.Tokens, 2)
		want := append([]float64(nil), m.NewWorkspace().Forward(a.Tokens[:c.n], c.rs)...)
		got, r := ws.ForwardReuse(a.Tokens[:c.n], c.rs)
		if r != 0 {
			t.Errorf("n %d rs %d: reused %d positions", c.n, c.rs, r)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("n %d rs %d: lp[%d] = %v, want %v", c.n, c.rs, i, got[i], want[i])
			}
		}
	}
}

// TestForwardReuseFloat32 checks the float32 path (fast GEMM) on the S preset
// with the benchmark's shape: 60 of 64 positions shared.
func TestForwardReuseFloat32(t *testing.T) {
	cfg, _ := Preset("S")
	cfg.Tied = false
	m := New[float32](cfg)
	m.Init(3)
	rng := rand.New(rand.NewPCG(4, 0))
	a := randSeq(rng, cfg.V, cfg.T, 16)
	b := append([]int32(nil), a.Tokens...)
	for i := cfg.T - 4; i < cfg.T; i++ {
		b[i] = (a.Tokens[i] + 1) % int32(cfg.V)
	}
	want := append([]float32(nil), m.NewSerialWorkspace().Forward(b, 16)...)
	ws := m.NewSerialWorkspace()
	ws.Forward(a.Tokens, 16)
	got, r := ws.ForwardReuse(b, 16)
	if r != cfg.T-4 {
		t.Fatalf("reused %d positions, want %d", r, cfg.T-4)
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-6*math.Abs(float64(want[i])) {
			t.Fatalf("lp[%d] = %v, plain Forward %v", i, got[i], want[i])
		}
	}
}

// TestWorkspaceBytes checks WorkspaceBytes against the buffers a Workspace
// really holds (every slice field, per-layer ones included) after sequences
// of growing length, and that the buffers follow the longest sequence.
func TestWorkspaceBytes(t *testing.T) {
	held := func(ws *Workspace[float32]) float64 {
		var n int
		add := func(v reflect.Value) {
			for i := 0; i < v.NumField(); i++ {
				f := v.Field(i)
				if f.Kind() == reflect.Slice && (f.Type().Elem().Kind() == reflect.Float32 || f.Type().Elem().Kind() == reflect.Int32) {
					n += 4 * f.Len()
				}
			}
		}
		add(reflect.ValueOf(ws).Elem())
		for l := range ws.layers {
			add(reflect.ValueOf(&ws.layers[l]).Elem())
		}
		return float64(n)
	}
	for _, cfg := range []Config{{V: 64, T: 80, C: 16, L: 2, H: 2, Tied: true}, {V: 37, T: 9, C: 12, L: 3, H: 3}} {
		m := New[float32](cfg)
		m.Init(1)
		ws := m.NewWorkspace()
		if got := held(ws); got != 0 {
			t.Errorf("%+v: a new workspace holds %v bytes", cfg, got)
		}
		for _, n := range []int{2, 5, 20, 33, 70, 80} {
			if n > cfg.T {
				continue
			}
			toks := make([]int32, n)
			ws.Forward(toks, 1) // R = n-1: rounds to the same capacity as n except at a multiple of 32 plus one
			want := WorkspaceBytes(cfg, n, 4)
			if got := held(ws); got > want || (n%wsGrain != 1 && got != want) {
				t.Errorf("%+v after %d tokens: holds %v bytes, WorkspaceBytes %v", cfg, n, got, want)
			}
		}
		if full := WorkspaceBytes(cfg, cfg.T, 4); held(ws) != full {
			t.Errorf("%+v: after a sequence of T tokens the workspace holds %v bytes, want %v", cfg, held(ws), full)
		}
	}
}

// TestHeadChunkBits checks that the LM head's chunked backward gives the
// same bits as one pass over all response rows, in float32 (SIMD products)
// and float64, serial and parallel, with responses longer than a chunk.
func TestHeadChunkBits(t *testing.T) {
	cfg := Config{V: 53, T: 80, C: 16, L: 2, H: 2}
	check := func(t *testing.T, run func() []float64) {
		defer func(k int) { headChunk = k }(headChunk)
		headChunk = 1 << 30
		want := run()
		for _, k := range []int{32, 7, 1} {
			headChunk = k
			got := run()
			for i := range want {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Fatalf("chunk %d: gradient[%d] = %v, unchunked %v", k, i, got[i], want[i])
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(5, 5))
	toks := make([]int32, 77)
	for i := range toks {
		toks[i] = int32(rng.IntN(cfg.V))
	}
	dl := make([]float64, 77-3)
	for i := range dl {
		dl[i] = rng.NormFloat64()
	}
	for _, serial := range []bool{true, false} {
		t.Run("float32", func(t *testing.T) {
			m := New[float32](cfg)
			m.Init(2)
			check(t, func() []float64 {
				ws := m.NewWorkspace()
				if serial {
					ws = m.NewSerialWorkspace()
				}
				ws.Forward(toks, 3)
				d := make([]float32, len(dl))
				for i, v := range dl {
					d[i] = float32(v)
				}
				g := make([]float32, len(m.Params))
				ws.Backward(g, d)
				out := make([]float64, len(g))
				for i, v := range g {
					out[i] = float64(v)
				}
				return out
			})
		})
		t.Run("float64", func(t *testing.T) {
			m := New[float64](cfg)
			m.Init(2)
			check(t, func() []float64 {
				ws := m.NewWorkspace()
				if serial {
					ws = m.NewSerialWorkspace()
				}
				ws.Forward(toks, 3)
				g := make([]float64, len(m.Params))
				ws.BackwardSet(g, dl)
				return g
			})
		})
	}
}
