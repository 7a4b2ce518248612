package pref

import (
	"fmt"

	"entangle/pkg/entangle"
	"entangle/pkg/loss"
	"entangle/pkg/prefdata"
)

// Config configures a Stepper.
type Config struct {
	Loss loss.Loss
	// KL: the loss reads loss.Pair.KL (kto_pair's reference point), which
	// Grad then computes from the batch before the gradients (doc.go).
	KL           bool
	Beta         float64 // β of the TRL-style rewards β·(logp − ref); 0 means 1 (losses without β)
	Normalize    bool    // pairwise normalized update (doc.go)
	Sparse       Sparse  // token weights of the sequence log-probs (doc.go)
	SparseLambda float64 // λ of the learned gate's L1 penalty
	GateLR       float64 // SGD step size of the learned gate's parameters (0: the gate is not updated)
}

// Sparse selects the token weights q_t of the sequence log-prob
// z = Σ_t q_t·log π(y_t | x, y_<t).
type Sparse uint8

const (
	SparseNone    Sparse = iota // q_t = 1
	SparseOracle                // q_t = 1 on the dataset's contrastive tokens, 0 elsewhere
	SparseLearned               // q_t = m_t, the learned gate σ(u·h_t + b)
)

var sparseNames = [...]string{SparseNone: "none", SparseOracle: "oracle", SparseLearned: "learned"}

// String returns the mode's name as train -sparse spells it.
func (m Sparse) String() string {
	if int(m) < len(sparseNames) {
		return sparseNames[m]
	}
	return fmt.Sprintf("Sparse(%d)", uint8(m))
}

// ParseSparse returns the mode named s: none (or ""), oracle or learned.
func ParseSparse(s string) (Sparse, error) {
	switch s {
	case "", "none":
		return SparseNone, nil
	case "oracle":
		return SparseOracle, nil
	case "learned":
		return SparseLearned, nil
	}
	return 0, fmt.Errorf("-sparse must be none, oracle or learned, got %q", s)
}

// Pair is one preference pair of a batch, with its reference log-probs
// (computed once by the trainer, with the same masking as the policy's).
type Pair struct {
	Ex         *prefdata.Example
	RefW, RefL float64
}

// Throughout the exported API the chosen response is W and the rejected
// one L (the paper's y_w, y_l, g_w, g_l, d_w, d_l).

// PairStats are the exact quantities of one pair at one step: its
// log-probs, loss and weights, the inner products of its two gradients,
// overall and per parameter group, and its hidden-state sums. The After
// fields are NaN except for probe pairs after ProbeAfter.
type PairStats struct {
	Pair       int64 // example id
	LogpW      float64
	LogpL      float64
	RefW       float64
	RefL       float64
	LenW, LenL int32
	Loss       float64
	Margin     float64
	DW, DL     float64 // d_w = −∂ℓ/∂z_w, d_l = ∂ℓ/∂z_l
	CW, CL     float64 // the coefficients applied: the pair adds (−cw·g_w + cl·g_l)/B to dst
	Dot, WW    float64 // ⟨g_w,g_l⟩, ‖g_w‖²
	LL         float64 // ‖g_l‖²
	DotG       []float64
	WWG        []float64
	LLG        []float64
	HidW, HidL []float32 // Σ over response tokens of the final hidden state at their predicting positions
	LogpWAfter float64   // probes: z_w after the update
	LogpLAfter float64
	PredW      float64 // probes: ⟨g_w, Δθ⟩
	PredL      float64 // probes: ⟨g_l, Δθ⟩
}

// BatchStats are the batch-level quantities of one step (steps.arrows).
type BatchStats struct {
	Loss, Margin                      float64 // means over the batch
	LogpW, LogpL                      float64 // means of the summed (masked) log-probs
	LogpWTok, LogpLTok                float64 // means of the per-token log-probs (sum / length)
	RewardsW, RewardsL                float64 // means of β(logp − ref)
	RewardsMargins, RewardsAccuracies float64 // mean reward_w − reward_l; fraction reward_w > reward_l
	CosMean                           float64 // mean over pairs of cos(g_w, g_l)
	BatchDot, BatchWW, BatchLL        float64 // ⟨ḡ_w,ḡ_l⟩, ‖ḡ_w‖², ‖ḡ_l‖² of the batch-mean gradients
	KL                                float64 // kto_pair's reference point (0 for other losses)
}

// AttribDots are the inner products of one probe's gradients with one
// training pair's at an attribution step (SetAttribution).
type AttribDots struct {
	Probe  int     // index of the probe in the probes given
	Pair   int64   // training pair id
	WW, WL float64 // ⟨g_w^p, g_w,i⟩, ⟨g_w^p, g_l,i⟩
	LW, LL float64 // ⟨g_l^p, g_w,i⟩, ⟨g_l^p, g_l,i⟩
	CW, CL float64 // the step's coefficients of pair i
	Batch  int     // B
	// HW, HL are the history term ⟨g_w^p, h⟩, ⟨g_l^p, h⟩ of the applied
	// update (Dump.Split; the same on every row of a probe), NaN when the
	// dots are of the raw gradient.
	HW, HL float64
}

// VecOf says what a gradient vector of a dump is of.
type VecOf uint8

const (
	VecProbe  VecOf = iota // a probe pair's gradient
	VecTrain               // a training pair's gradient
	VecUpdate              // the step's update Δθ
)

// Side is the response of a pair a gradient is of.
type Side uint8

const (
	SideW Side = iota // the chosen response y_w
	SideL             // the rejected response y_l
)

// GradVec is one gradient vector of a dump: a sequence gradient
// (Token −1) or a per-token gradient ∇θ log π(y_t | x, y_<t) of a pair's
// chosen or rejected response, or the update Δθ (Pair −1). Grad is full or
// sketched.
type GradVec struct {
	Of          VecOf
	Pair        int64
	Side        Side  // SideW for the update
	Token       int32 // response-token index, −1 for sequence gradients and the update
	TokenID     int32 // −1 for sequence gradients and the update
	Contrastive int8  // −1 (not a token), 0 or 1
	Grad        []float32
}

// Dump is what a dump step asks of Step besides the gradient: probe pairs
// evaluated before and after the update, and optionally their attribution
// to the training pairs and gradient vectors.
type Dump struct {
	Probes     []Pair
	Attrib     bool                // probe × training-pair dots (needs Probes)
	Grads      bool                // gradient vectors: the probes', the update's
	Train      bool                // with Grads: the training pairs' too
	TokenGrads int                 // with Grads: per-token gradients of the first N probes
	Sketch     entangle.Projection // project the vectors: Sketch or CountSketch (nil: full)
	// Split, with Attrib, attributes the applied update instead of the raw
	// gradient: Split(pre, hist, dst) must set pre and hist so that the
	// update Step applies to dst (given in float64) changes θ by Δθ = −pre⊙dst + hist (the
	// optimizer's Split of the clipped gradient; see Stepper.Step).
	Split func(pre, hist, dst []float64)
}

// StepResult is what Step returns. Slices are views valid until the next
// Step.
type StepResult struct {
	Pairs  []PairStats  // the batch's pairs, in batch order
	Batch  BatchStats   // the batch statistics
	Probes []PairStats  // dump steps with probes: before and after the update
	Attrib []AttribDots // dump steps with Attrib: probe-major
	Grads  []GradVec    // dump steps with Grads: probes (then their tokens), training pairs, the update
}
