package entangle

import (
	"math"
	"testing"
)

func TestCosineMatrixAndSummary(t *testing.T) {
	// P = 2. Chosen tokens (1,0), (0,1), (1,1); rejected (−1,0), (0,2), (1,1), (0,0).
	gw := []float32{1, 0, 0, 1, 1, 1}
	gl := []float32{-1, 0, 0, 2, 1, 1, 0, 0}
	const nW, nL, P = 3, 4, 2
	r := 1 / math.Sqrt2
	nan := math.NaN()
	want := []float64{
		-1, 0, r, nan, // (1,0)·: −1, 0, 1/√2, zero-norm
		0, 1, r, nan, // (0,1)·
		-r, r, 1, nan, // (1,1)·
	}
	cos := make([]float64, nW*nL)
	CosineMatrix(cos, gw, gl, nW, nL, P)
	for i := range want {
		if !near(cos[i], want[i], 1e-15) {
			t.Errorf("cos[%d] = %v, want %v", i, cos[i], want[i])
		}
	}
	cW := []bool{true, false, false}
	cL := []bool{true, false, false, false}

	// End alignment: chosen i ↔ rejected i+1. Contrastive×contrastive: (0,0)
	// = −1. Aligned shared: (1,2) = 1/√2; (2,3) is NaN (skipped). Other: the
	// 7 remaining finite entries 0, 1/√2, 0, 1, −1/√2, 1/√2, 1 → (2 + 1/√2)/7.
	s := TokenSummarize(cos, nW, nL, cW, cL, nil)
	wantS := TokenSummary{ContrastiveMean: -1, ContrastiveN: 1, AlignedSharedMean: r, AlignedSharedN: 1,
		OtherMean: (2 + r) / 7, OtherN: 7, NaN: 3}
	checkTS(t, "end-aligned", s, wantS)

	// Caller mapping: 1↔1, 2↔2 → aligned (1,1) = 1, (2,2) = 1 → mean 1.
	// Other: (0,1)=0, (0,2)=r, (1,0)=0, (1,2)=r, (2,0)=−r, (2,1)=r → 2r/6.
	s = TokenSummarize(cos, nW, nL, cW, cL, []int{-1, 1, 2})
	wantS = TokenSummary{ContrastiveMean: -1, ContrastiveN: 1, AlignedSharedMean: 1, AlignedSharedN: 2,
		OtherMean: 2 * r / 6, OtherN: 6, NaN: 3}
	checkTS(t, "mapped", s, wantS)

	// No contrastive tokens at all: the contrastive mean is NaN, not 0.
	s = TokenSummarize(cos, nW, nL, make([]bool, nW), make([]bool, nL), nil)
	if s.ContrastiveN != 0 || !math.IsNaN(s.ContrastiveMean) {
		t.Errorf("empty category: %+v", s)
	}
}

func checkTS(t *testing.T, name string, got, want TokenSummary) {
	t.Helper()
	if got.ContrastiveN != want.ContrastiveN || got.AlignedSharedN != want.AlignedSharedN ||
		got.OtherN != want.OtherN || got.NaN != want.NaN ||
		!near(got.ContrastiveMean, want.ContrastiveMean, 1e-15) ||
		!near(got.AlignedSharedMean, want.AlignedSharedMean, 1e-15) ||
		!near(got.OtherMean, want.OtherMean, 1e-15) {
		t.Errorf("%s: TokenSummarize = %+v, want %+v", name, got, want)
	}
}

func TestEndAligned(t *testing.T) {
	// nW = 3, nL = 5: offsets from the end match i ↔ i+2.
	for _, tc := range []struct {
		nW, nL int
		want   []int
	}{
		{3, 5, []int{2, 3, 4}},
		{4, 2, []int{-1, -1, 0, 1}},
		{2, 2, []int{0, 1}},
	} {
		got := EndAligned(tc.nW, tc.nL)
		for i := range tc.want {
			if got[i] != tc.want[i] {
				t.Errorf("EndAligned(%d, %d) = %v, want %v", tc.nW, tc.nL, got, tc.want)
				break
			}
		}
	}
}

func TestCHES(t *testing.T) {
	// H⁺ = (1,2), H⁻ = (3,−1), |y⁺| = 2, |y⁻| = 4: ⟨H⁺,H⁻⟩ = 3 − 2 = 1,
	// ‖H⁺‖² = 5 → CHES = 1 − 5 = −4; normalised 1/(2·4) − 5/2² = −1.125.
	s, n, err := CHES([]float32{1, 2}, []float32{3, -1}, 2, 4)
	if err != nil || s != -4 || n != -1.125 {
		t.Errorf("CHES = %v, %v, %v, want -4, -1.125, nil", s, n, err)
	}
	if _, _, err := CHES([]float32{1}, []float32{1}, 0, 1); err == nil {
		t.Error("CHES with zero length: no error")
	}
	// 4096 coordinates of 1e20: ‖H⁺‖² = 4.096e43 overflows float32 (max
	// 3.4e38) but not float64; H⁺ = H⁻ gives CHES = 0 exactly.
	h := make([]float32, 4096)
	for i := range h {
		h[i] = 1e20
	}
	if s, _, _ := CHES(h, h, 300, 300); s != 0 {
		t.Errorf("CHES(h, h) = %v, want 0", s)
	}
}
