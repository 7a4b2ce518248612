package pref

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
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
// for batches of 1 (first = last) and 5 pairs, the fused (dpo) and the
// two-pass (Normalize) paths, and GOMAXPROCS 1 and 3.
func TestFoldMatchesPasses(t *testing.T) {
	for _, B := range []int{1, 5} {
		for _, normalize := range []bool{false, true} {
			for _, procs := range []int{1, 3} {
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
