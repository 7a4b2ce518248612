package pref

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"entangle/pkg/model"
)

// TestFoldMatchesPasses: Grad's folded first and last pair passes (dst, sw,
// sl cleared block by block in the first, the batch sums' dots taken in the
// last: batchFold) give, float32, with dst, sw and sl full of garbage
// beforehand:
//   - dst, sw, sl bit-identical to clearing them and adding every pair with
//     pairPass in batch order, from g_w, g_l recomputed here by BackwardSet;
//   - BatchDot, BatchWW, BatchLL equal to the serial float64 sums of the
//     recomputed sw, sl over B², to a relative 1e-12 (float64 sums of exact
//     products of float32 values, in a different order: the difference is
//     the rounding of ~10⁵ additions, ≲ 10⁵·2⁻⁵³ ≈ 1e-11 worst case, far
//     less in practice);
//
// for batches of 1 (first = last), 4 and 5 pairs, the fused (dpo) and the
// two-pass (Normalize) paths, and GOMAXPROCS 1, 2 (two lanes: couple passes,
// runCouples) and 3.
func TestFoldMatchesPasses(t *testing.T) {
	for _, B := range []int{1, 4, 5} {
		for _, normalize := range []bool{false, true} {
			for _, procs := range []int{1, 2, 3} {
				prev := runtime.GOMAXPROCS(procs)
				checkFold(t, B, normalize)
				runtime.GOMAXPROCS(prev)
			}
		}
	}
}

func checkFold(t *testing.T, B int, normalize bool) {
	t.Helper()
	m := newModel[float32](11)
	s := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0), Normalize: normalize, Beta: 0.1})
	batch := makePairs(rand.New(rand.NewPCG(17, 0)), B, tinyCfg.V)
	n := len(m.Params)
	dst := make([]float32, n)
	s.sw, s.sl = make([]float32, n), make([]float32, n) // as a previous Grad left them
	for i := range dst {
		dst[i], s.sw[i], s.sl[i] = float32(math.NaN()), 7, -3
	}
	rows, st, err := s.Grad(dst, batch)
	if err != nil {
		t.Fatal(err)
	}
	wd, wsw, wsl := make([]float32, n), make([]float32, n), make([]float32, n)
	gw, gl := make([]float32, n), make([]float32, n)
	ws := m.NewSerialWorkspace()
	acc := new([48]float64)
	invB := 1 / float64(B)
	for i, p := range batch {
		for _, x := range []struct {
			g    []float32
			resp []int32
		}{{gw, p.Ex.Chosen}, {gl, p.Ex.Rejected}} {
			ws.Forward(append(append([]int32(nil), p.Ex.Prompt...), x.resp...), len(p.Ex.Prompt))
			ones := make([]float32, len(x.resp))
			for j := range ones {
				ones[j] = 1
			}
			ws.BackwardSet(x.g, ones)
		}
		pairPass(wd, wsw, wsl, gw, gl, -rows[i].CW*invB, rows[i].CL*invB, s.groups, nil, false, acc)
	}
	for i := range wd {
		if math.Float32bits(wd[i]) != math.Float32bits(dst[i]) || math.Float32bits(wsw[i]) != math.Float32bits(s.sw[i]) || math.Float32bits(wsl[i]) != math.Float32bits(s.sl[i]) {
			t.Fatalf("B %d normalize %v: element %d: dst, sw, sl = %v %v %v, want %v %v %v", B, normalize, i, dst[i], s.sw[i], s.sl[i], wd[i], wsw[i], wsl[i])
		}
	}
	var d, ww, ll float64
	for k := range wsw {
		a, b := float64(wsw[k]), float64(wsl[k])
		d += a * b
		ww += a * a
		ll += b * b
	}
	for _, v := range [][3]float64{{st.BatchDot, d, 0}, {st.BatchWW, ww, 1}, {st.BatchLL, ll, 2}} {
		want := v[1] * invB * invB
		if math.Abs(v[0]-want) > 1e-12*math.Abs(want) {
			t.Errorf("B %d normalize %v: batch statistic %v = %.17g, serial sums give %.17g", B, normalize, v[2], v[0], want)
		}
	}
}

// TestCouplesMatchSerial: with two lanes (GOMAXPROCS 2: runCouples, two
// pairs per pass, each lane over half of the blocks) Grad's dst, every row's
// dots and norms per group and the batch statistics are bit-identical to
// one lane's (GOMAXPROCS 1: one pair per pass), in float32 and float64, for
// batches of 2, 3 and 6 pairs, fused and Normalize, on a model whose larger
// tensors span several blocks.
func TestCouplesMatchSerial(t *testing.T) {
	checkCouples[float32](t)
	checkCouples[float64](t)
}

func checkCouples[F model.Float](t *testing.T) {
	t.Helper()
	run := func(procs, B int, normalize bool) ([]F, []float64) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		// wider than tinyCfg: the larger tensors span several blocks
		// (passBlock), so that the block sums are combined across the split
		cfg := model.Config{V: 64, T: 16, C: 32, L: 1, H: 2, Tied: true}
		m := model.New[F](cfg)
		m.Init(13)
		for i := range m.Params {
			m.Params[i] *= 3
		}
		s := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0), Normalize: normalize, Beta: 0.1})
		batch := makePairs(rand.New(rand.NewPCG(19, 0)), B, cfg.V)
		dst := make([]F, len(m.Params))
		var stats []float64
		for range 2 {
			rows, st, err := s.Grad(dst, batch)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				stats = append(stats, r.Dot, r.WW, r.LL, r.CW, r.CL)
				stats = append(stats, r.DotG...)
				stats = append(stats, r.WWG...)
				stats = append(stats, r.LLG...)
			}
			stats = append(stats, st.BatchDot, st.BatchWW, st.BatchLL, st.Loss)
		}
		return dst, stats
	}
	for _, B := range []int{2, 3, 6} {
		for _, normalize := range []bool{false, true} {
			d1, s1 := run(1, B, normalize)
			d2, s2 := run(2, B, normalize)
			for i := range d1 {
				if math.Float64bits(float64(d1[i])) != math.Float64bits(float64(d2[i])) {
					t.Fatalf("%T B %d normalize %v: dst[%d] = %v with two lanes, %v with one", d1[0], B, normalize, i, d2[i], d1[i])
				}
			}
			for i := range s1 {
				if math.Float64bits(s1[i]) != math.Float64bits(s2[i]) {
					t.Fatalf("%T B %d normalize %v: statistic %d = %v with two lanes, %v with one", d1[0], B, normalize, i, s2[i], s1[i])
				}
			}
		}
	}
}
