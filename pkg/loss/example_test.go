package loss_test

import (
	"fmt"

	"entangle/pkg/loss"
)

// Example evaluates DPO on one pair and reads off the Condition 1 ratio.
func Example() {
	p, _ := loss.Defaults("dpo") // β = 0.1
	l, err := loss.New("dpo", p)
	if err != nil {
		panic(err)
	}
	// r_w = 0, r_l = 0: Δ = 0, so ℓ = log 2 and d_w = d_l = β/2.
	r := l.Eval(loss.Pair{Chosen: -12, Rejected: -15, RefChosen: -12, RefRejected: -15, LenChosen: 5, LenRejected: 6})
	fmt.Printf("%s: loss %.4f margin %.1f d_w %.3f d_l %.3f r %.0f\n", l.Name(), r.Loss, r.Margin, r.DW, r.DL, r.DW/r.DL)

	// Adding the chosen NLL raises d_w by 1/|y_w| = 0.2.
	r = loss.WithNLL(l, 1).Eval(loss.Pair{Chosen: -12, Rejected: -15, RefChosen: -12, RefRejected: -15, LenChosen: 5, LenRejected: 6})
	fmt.Printf("with nll: d_w %.3f d_l %.3f\n", r.DW, r.DL)
	// Output:
	// sigmoid: loss 0.6931 margin 0.0 d_w 0.050 d_l 0.050 r 1
	// with nll: d_w 0.250 d_l 0.050
}

// ExampleNormalized shows the coefficients of the pairwise normalized update.
func ExampleNormalized() {
	r := loss.Result{DW: 0.05, DL: 0.05}
	// ‖g_w‖ = 2, ‖g_l‖ = 5: the update is 0.05·(g_w/2 − g_l/5).
	cw, cl := loss.Normalized(r, 2, 5)
	fmt.Printf("cw %.3f cl %.3f\n", cw, cl)
	// Output:
	// cw 0.025 cl 0.010
}
