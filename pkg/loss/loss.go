package loss

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Pair holds what a margin-based loss needs about one preference pair.
// In the loss math below, the subscript w (winner) means the chosen response
// y_w and l (loser) the rejected response y_l, as in the paper (arXiv 2410.13828, §1).
type Pair struct {
	Chosen, Rejected       float64 // z_w = log π_θ(y_w|x), z_l = log π_θ(y_l|x), summed over response tokens
	RefChosen, RefRejected float64 // the same under the reference policy π_ref (ignored by reference-free losses)
	LenChosen, LenRejected int     // response token counts |y_w|, |y_l| (≥ 1)

	// KL is the reference point of kto_pair only, and is ignored by every
	// other loss. It is a detached, batch-level estimate of KL(π_θ‖π_ref) in
	// nats per sequence, computed by the trainer; TRL's KTOTrainer uses the
	// batch mean of log π_θ(y'|x) − log π_ref(y'|x) over mismatched
	// (prompt, completion) pairs. Like TRL, kto_pair clamps it at 0 and treats
	// it as a constant: no derivative flows through it. The zero value gives
	// KTO with reference point 0.
	KL float64
}

// Validate reports whether p is usable data: finite log-probabilities and
// lengths ≥ 1. Eval panics on lengths < 1, so a trainer reading untrusted
// data should call Validate first.
func (p Pair) Validate() error {
	for _, v := range []struct {
		name string
		x    float64
	}{{"chosen", p.Chosen}, {"rejected", p.Rejected}, {"ref_chosen", p.RefChosen},
		{"ref_rejected", p.RefRejected}, {"kl", p.KL}} {
		if math.IsNaN(v.x) || math.IsInf(v.x, 0) {
			return fmt.Errorf("loss: %s log-prob is not finite: got=%v", v.name, v.x)
		}
	}
	if p.LenChosen < 1 || p.LenRejected < 1 {
		return fmt.Errorf("loss: response length must be ≥ 1: got=%d,%d, want=≥1", p.LenChosen, p.LenRejected)
	}
	return nil
}

// Result is one pair's loss and its two scalar weights.
//
// With g_w = ∇_θ log π_θ(y_w|x) and g_l = ∇_θ log π_θ(y_l|x),
//
//	DW = d_w = −∂ℓ/∂z_w    DL = d_l = +∂ℓ/∂z_l    −∇_θ ℓ = d_w g_w − d_l g_l
//
// so one SGD step of size η changes the log-probs, to first order, by
//
//	Δz_w ≈ η(d_w‖g_w‖² − d_l⟨g_w,g_l⟩)    Δz_l ≈ η(d_w⟨g_w,g_l⟩ − d_l‖g_l‖²)
//
// (arXiv 2410.13828 §3.2; the Condition 1 ratio is r = d_w/d_l).
// Margin is the loss's own argument; each loss's documentation says which.
type Result struct {
	Loss   float64 // ℓ for this pair
	Margin float64 // the loss's own argument (e.g. βΔ for DPO)
	DW, DL float64 // d_w and d_l as above
}

// Loss is one margin-based preference loss with fixed hyperparameters.
// Implementations are immutable and safe for concurrent use.
type Loss interface {
	// Name returns the canonical name (aliases resolve to it, e.g. "dpo" → "sigmoid").
	Name() string
	// Eval returns the loss, margin and weights for one pair.
	// It panics if p.LenChosen or p.LenRejected is < 1.
	Eval(p Pair) Result
	// NeedsRef reports whether Eval reads RefChosen and RefRejected.
	NeedsRef() bool
}

// Params holds every hyperparameter of every loss, one field each. A loss
// reads only the fields ParamNames lists for it and ignores the others.
// Defaults returns the reference values per loss.
type Params struct {
	// Beta is β, the inverse temperature multiplying the margin (TRL beta).
	// For ipo it is IPO's τ (target margin 1/(2τ)); for orpo it weights the
	// odds-ratio term (ORPO's λ, which TRL calls beta). Must be > 0.
	Beta float64 `json:"beta"`
	// LabelSmoothing is ε, the assumed probability that a label is flipped
	// (TRL label_smoothing): sigmoid (cDPO) and robust need 0 ≤ ε < 0.5,
	// exo_pair needs 0 < ε < 0.5; simpo and cpo also accept 0 ≤ ε < 0.5.
	LabelSmoothing float64 `json:"label_smoothing"`
	// Tau is discopop's temperature τ of the mixing gate σ(βΔ/τ)
	// (TRL discopop_tau). Must be > 0.
	Tau float64 `json:"tau"`
	// Gamma is simpo's target reward margin γ (TRL simpo_gamma). Must be ≥ 0.
	Gamma float64 `json:"gamma"`
	// Alpha is rdpo's length coefficient α on |y_w| − |y_l|. Must be ≥ 0.
	Alpha float64 `json:"alpha"`
	// Lambda is dpop's penalty weight λ on max(0, z_w^ref − z_w). Must be ≥ 0.
	Lambda float64 `json:"lambda"`
	// Delta is slic's hinge margin δ on z_w − z_l. Must be ≥ 0.
	Delta float64 `json:"delta"`
	// NLLCoef is the coefficient of the built-in chosen-response NLL term
	// NLL = −z_w/|y_w| of cpo, orpo, rrhf, simpo and slic (TRL cpo_alpha;
	// orpo's is fixed at 1 in TRL). Must be ≥ 0.
	NLLCoef float64 `json:"nll_coef"`
	// DesirableWeight and UndesirableWeight are kto_pair's λ_D and λ_U
	// (TRL desirable_weight, undesirable_weight). Must be > 0.
	DesirableWeight   float64 `json:"desirable_weight"`
	UndesirableWeight float64 `json:"undesirable_weight"`
}

// UnmarshalJSON reads Params from JSON with the keys of its tags
// (snake_case: "beta", "label_smoothing", …), and also from the Go field
// names that files written before the tags hold ("Beta",
// "LabelSmoothing", …; a file holds one form or the other).
func (p *Params) UnmarshalJSON(b []byte) error {
	type tagged Params // without this method
	var q tagged
	if err := json.Unmarshal(b, &q); err != nil {
		return err
	}
	var old struct { // the keys that differ from the tags but for case
		LabelSmoothing, NLLCoef, DesirableWeight, UndesirableWeight *float64
	}
	if err := json.Unmarshal(b, &old); err != nil {
		return err
	}
	for _, f := range []struct {
		dst *float64
		src *float64
	}{{&q.LabelSmoothing, old.LabelSmoothing}, {&q.NLLCoef, old.NLLCoef}, {&q.DesirableWeight, old.DesirableWeight}, {&q.UndesirableWeight, old.UndesirableWeight}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	*p = Params(q)
	return nil
}

// spec is one registry entry.
type spec struct {
	needsRef bool
	params   []string                       // Params field names the loss reads
	defaults Params                         // reference defaults (TRL where TRL has the loss)
	eval     func(p Pair, q *Params) Result // the loss itself; lengths already checked
}

// aliases maps an alternative name to its canonical name.
var aliases = map[string]string{
	"dpo": Sigmoid,
}

// New returns the loss called name (a canonical name or an alias) with
// hyperparameters p. It returns an error for an unknown name (listing the
// valid ones) or for a hyperparameter the loss reads that is outside its
// domain (see Params). Fields the loss does not read are ignored.
func New(name string, p Params) (Loss, error) {
	canon, s, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if err := validate(canon, s, &p); err != nil {
		return nil, err
	}
	return &marginLoss{name: canon, s: s, p: p}, nil
}

// Defaults returns the default hyperparameters of the loss called name:
// TRL's defaults where TRL has the loss, the gradient-entanglement paper's
// repository (HumainLab/Understand_MarginPO) otherwise, and the original
// paper's for slic. The doc.go table lists them.
func Defaults(name string) (Params, error) {
	_, s, err := lookup(name)
	if err != nil {
		return Params{}, err
	}
	return s.defaults, nil
}

// ParamNames returns the names of the Params fields the loss called name
// reads, in declaration order; a command can warn when a flag is set for a
// loss that ignores it, and echo only the relevant ones.
func ParamNames(name string) ([]string, error) {
	_, s, err := lookup(name)
	if err != nil {
		return nil, err
	}
	return append([]string(nil), s.params...), nil
}

// Names returns every accepted name, canonical names and aliases, sorted.
func Names() []string {
	names := make([]string, 0, len(registry)+len(aliases))
	for n := range registry {
		names = append(names, n)
	}
	for n := range aliases {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// lookup resolves aliases and finds the registry entry.
func lookup(name string) (string, spec, error) {
	canon := name
	if a, ok := aliases[name]; ok {
		canon = a
	}
	s, ok := registry[canon]
	if !ok {
		return "", spec{}, fmt.Errorf("loss: unknown loss %q: want one of %s", name, strings.Join(Names(), ", "))
	}
	return canon, s, nil
}

// validate checks every field the loss reads against its domain.
func validate(name string, s spec, p *Params) error {
	var errs []error
	bad := func(field string, v float64, want string) {
		errs = append(errs, fmt.Errorf("loss: %s: %s got=%v, want=%s", name, field, v, want))
	}
	for _, f := range s.params {
		var v float64
		switch f {
		case "Beta":
			if v = p.Beta; !(v > 0) || math.IsInf(v, 0) {
				bad(f, v, "finite > 0")
			}
			continue
		case "LabelSmoothing":
			v = p.LabelSmoothing
			if name == ExoPair {
				if !(v > 0 && v < 0.5) {
					bad(f, v, "in (0, 0.5)")
				}
			} else if !(v >= 0 && v < 0.5) {
				bad(f, v, "in [0, 0.5)")
			}
			continue
		case "Tau":
			if v = p.Tau; !(v > 0) || math.IsInf(v, 0) {
				bad(f, v, "finite > 0")
			}
			continue
		case "DesirableWeight":
			if v = p.DesirableWeight; !(v > 0) || math.IsInf(v, 0) {
				bad(f, v, "finite > 0")
			}
			continue
		case "UndesirableWeight":
			if v = p.UndesirableWeight; !(v > 0) || math.IsInf(v, 0) {
				bad(f, v, "finite > 0")
			}
			continue
		case "Gamma":
			v = p.Gamma
		case "Alpha":
			v = p.Alpha
		case "Lambda":
			v = p.Lambda
		case "Delta":
			v = p.Delta
		case "NLLCoef":
			v = p.NLLCoef
		default:
			panic("loss: registry names an unknown parameter")
		}
		// The remaining fields are finite and non-negative.
		if !(v >= 0) || math.IsInf(v, 0) {
			bad(f, v, "finite ≥ 0")
		}
	}
	return errors.Join(errs...)
}

// marginLoss is the one Loss implementation: a registry entry plus its
// validated hyperparameters.
type marginLoss struct {
	name string
	s    spec
	p    Params
}

const errLength = "loss: response length < 1"

func (l *marginLoss) Name() string   { return l.name }
func (l *marginLoss) NeedsRef() bool { return l.s.needsRef }
func (l *marginLoss) Eval(p Pair) Result {
	if p.LenChosen < 1 || p.LenRejected < 1 {
		panic(errLength)
	}
	return l.s.eval(p, &l.p)
}

// NLL returns the mean token cross-entropy on the chosen response,
//
//	NLL = −z_w/|y_w|
//
// the SFT term of cpo, orpo, rrhf and WithNLL. Its weight is
// −∂NLL/∂z_w = 1/|y_w| on the chosen side and 0 on the rejected side.
// Note that TRL averages this over all chosen tokens of a batch (token-weighted)
// while a per-pair mean of NLL weights pairs equally; the trainer decides.
func NLL(p Pair) float64 {
	if p.LenChosen < 1 {
		panic(errLength)
	}
	return -p.Chosen / float64(p.LenChosen)
}

// WithNLL returns l plus coef times the chosen NLL (the -nll flag):
//
//	ℓ' = ℓ + coef·(−z_w/|y_w|)    d_w' = d_w + coef/|y_w|    d_l' = d_l
//
// The margin is l's. This is RPO's form (Pang et al. 2024, "Iterative
// Reasoning Preference Optimization", arXiv 2404.19733; TRL rpo_alpha, now
// loss_type ["sigmoid","sft"]). Its name is l.Name()+"+nll". It panics if
// coef is negative or not finite.
func WithNLL(l Loss, coef float64) Loss {
	if !(coef >= 0) || math.IsInf(coef, 0) {
		panic("loss: NLL coefficient must be finite and ≥ 0")
	}
	return withNLL{l: l, coef: coef}
}

type withNLL struct {
	l    Loss
	coef float64
}

func (w withNLL) Name() string   { return w.l.Name() + "+nll" }
func (w withNLL) NeedsRef() bool { return w.l.NeedsRef() }
func (w withNLL) Eval(p Pair) Result {
	r := w.l.Eval(p)
	addNLL(&r, p, w.coef)
	return r
}

// addNLL adds coef·NLL to r, with its weight coef/|y_w| on d_w.
func addNLL(r *Result, p Pair, coef float64) {
	if coef == 0 {
		return
	}
	r.Loss += coef * NLL(p)
	r.DW += coef / float64(p.LenChosen)
}
