package torchtest

import (
	"math"
	"testing"
)

func TestRelErr(t *testing.T) {
	// ‖(1,2)−(1,4)‖/‖(1,4)‖ = 2/√17
	if got, want := RelErr([]float32{1, 2}, []float64{1, 4}), 2/math.Sqrt(17); math.Abs(got-want) > 1e-15 {
		t.Errorf("RelErr = %v, want %v", got, want)
	}
	if got := RelErr([]float64{3, 4}, []float64{0, 0}); got != 5 {
		t.Errorf("RelErr against zero = %v, want the absolute error 5", got)
	}
	if got := RelErr([]float64{1}, []float64{1, 2}); !math.IsInf(got, 1) {
		t.Errorf("RelErr of different lengths = %v, want +Inf", got)
	}
}
