package num

import (
	"math"
	"testing"
)

// TestNeumaier: 1 + 1e100 + 1 − 1e100 is 2 with compensation (0 without).
func TestNeumaier(t *testing.T) {
	var s, c float64
	for _, x := range []float64{1, 1e100, 1, -1e100} {
		s, c = Neumaier(s, c, x)
	}
	if s+c != 2 {
		t.Fatalf("compensated sum %v, want 2", s+c)
	}
}

func TestFinite(t *testing.T) {
	if !Finite(0, -1, math.MaxFloat64) || Finite(1, math.NaN()) || Finite(math.Inf(-1)) {
		t.Fatal("Finite is wrong")
	}
}

func TestAs32(t *testing.T) {
	type f32 float32
	x := []f32{1, 2}
	y := As32(x)
	y[1] = 5
	if x[1] != 5 || As32([]float32(nil)) != nil {
		t.Fatal("As32 does not view its argument")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("As32 of float64 does not panic")
		}
	}()
	As32([]float64{1})
}
