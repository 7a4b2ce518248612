package loss

import "math"

// Notation in this file (package doc has the full table):
//
//	z_w, z_l    Pair.Chosen, Pair.Rejected (summed log-probs); w = chosen, l = rejected
//	r_w, r_l    z_w − z_w^ref, z_l − z_l^ref (log-ratios against the reference)
//	Δ           r_w − r_l
//	z̄ = z/|y|   per-token mean log-prob; |y| = Pair.LenChosen or Pair.LenRejected
//	σ, σ'       logistic function and its derivative σ(x)σ(−x)
//	NLL         −z_w/|y_w|
//
// Every loss returns d_w = −∂ℓ/∂z_w and d_l = +∂ℓ/∂z_l.

// Names of the losses. Each constant's comment gives the loss, the margin,
// the weights d_w and d_l, and the citation.
const (
	// Sigmoid is DPO (alias "dpo") with optional conservative label smoothing ε (cDPO):
	//
	//	u = βΔ
	//	ℓ = −(1−ε) log σ(u) − ε log σ(−u)
	//	d_w = d_l = β[(1−ε)σ(−u) − εσ(u)]
	//
	// Margin u. Rafailov et al. 2023, "Direct Preference Optimization",
	// arXiv 2305.18290; cDPO: Mitchell 2023 (note, no arXiv id).
	// TRL trl/trainer/dpo_trainer.py loss_type "sigmoid"; trl 0.11, which the
	// paper used, applies label_smoothing here, some later TRL versions only in
	// robust/exo_pair/aot. ε = 0 (the default) is plain DPO either way.
	Sigmoid = "sigmoid"

	// Hinge is the SLiC-style hinge on the DPO margin:
	//
	//	u = βΔ
	//	ℓ = max(0, 1 − u)
	//	d_w = d_l = β·1[u < 1]
	//
	// Margin u. Liu et al. 2023, "Statistical Rejection Sampling Improves
	// Preference Optimization" (RSO), arXiv 2309.06657. TRL dpo_trainer.py "hinge".
	Hinge = "hinge"

	// IPO is TRL's length-averaged IPO (β is IPO's τ):
	//
	//	δ = r_w/|y_w| − r_l/|y_l|
	//	ℓ = (δ − 1/(2β))²
	//	d_w = 2(1/(2β) − δ)/|y_w|    d_l = 2(1/(2β) − δ)/|y_l|
	//
	// Margin δ. Both weights turn negative once δ > 1/(2β): the loss then
	// shrinks the margin. Azar et al. 2023, "A General Theoretical Paradigm
	// to Understand Learning from Human Preferences", arXiv 2310.12036.
	// TRL dpo_trainer.py "ipo" (the per-token averaging is TRL's, confirmed
	// with the IPO authors according to the TRL source).
	IPO = "ipo"

	// Robust is robust DPO, unbiased under label-flip rate ε:
	//
	//	u = βΔ
	//	ℓ = [−(1−ε) log σ(u) + ε log σ(−u)]/(1 − 2ε)
	//	d_w = d_l = β[(1−ε)σ(−u) + εσ(u)]/(1 − 2ε)
	//
	// Margin u. Chowdhury et al. 2024, "Provably Robust DPO", arXiv 2403.00409.
	// TRL dpo_trainer.py "robust".
	Robust = "robust"

	// ExoPair is EXO for pairs: the reverse KL from the model's pair
	// distribution q = softmax(βr_w, βr_l) to the smoothed labels [1−ε, ε]:
	//
	//	u = βΔ    q_w = σ(u)    q_l = σ(−u)
	//	ℓ = q_w(log q_w − log(1−ε)) + q_l(log q_l − log ε)
	//	d_w = d_l = β σ'(u)(log((1−ε)/ε) − u)
	//
	// Margin u. The weights vanish at u = log((1−ε)/ε) and are negative
	// beyond it. Ji et al. 2024, "Towards Efficient Exact Optimization of
	// Language Model Alignment", arXiv 2402.00856. TRL dpo_trainer.py "exo_pair".
	ExoPair = "exo_pair"

	// NCAPair is NCA in paired form:
	//
	//	a = βr_w    b = βr_l
	//	ℓ = −log σ(a) − ½ log σ(−a) − ½ log σ(−b)
	//	d_w = β[σ(−a) − ½σ(a)]    d_l = ½βσ(b)
	//
	// Margin βΔ (TRL's reward margin). d_w < 0 once σ(a) > 2/3: the chosen is
	// then pushed down. Chen et al. 2024, "Noise Contrastive Alignment of
	// Language Models with Explicit Rewards", arXiv 2402.05369.
	// TRL dpo_trainer.py "nca_pair".
	NCAPair = "nca_pair"

	// BCOPair is BCO in paired form without the running-mean reward shift δ:
	//
	//	a = βr_w    b = βr_l
	//	ℓ = −log σ(a) − log σ(−b)
	//	d_w = βσ(−a)    d_l = βσ(b)
	//
	// Margin βΔ. Jung et al. 2024, "Binary Classifier Optimization for Large
	// Language Model Alignment", arXiv 2404.04656. TRL dpo_trainer.py "bco_pair"
	// (which does not subtract a running mean either).
	BCOPair = "bco_pair"

	// SPPOHard is SPPO with hard win probabilities (1 for the chosen, 0 for the rejected):
	//
	//	ℓ = (r_w − 1/(2β))² + (r_l + 1/(2β))²
	//	d_w = 2(1/(2β) − r_w)    d_l = 2(r_l + 1/(2β))
	//
	// Margin βΔ. Wu et al. 2024, "Self-Play Preference Optimization for
	// Language Model Alignment", arXiv 2405.00675. TRL dpo_trainer.py "sppo_hard".
	SPPOHard = "sppo_hard"

	// SPPO is the gradient-entanglement authors' "sppo": SPPOHard divided by 2
	// (it averages the two squares), so it is NOT an alias:
	//
	//	ℓ = [(r_w − 1/(2β))² + (r_l + 1/(2β))²]/2
	//	d_w = 1/(2β) − r_w    d_l = r_l + 1/(2β)
	//
	// Margin βΔ. HumainLab/Understand_MarginPO dpo.py (MyDPOTrainer, "sppo");
	// SPPO: arXiv 2405.00675.
	SPPO = "sppo"

	// APOZero is APO-zero (raise the chosen, lower the rejected):
	//
	//	a = βr_w    b = βr_l
	//	ℓ = 1 − σ(a) + σ(b)
	//	d_w = βσ'(a)    d_l = βσ'(b)
	//
	// Margin βΔ. D'Oosterlinck et al. 2024, "Anchored Preference Optimization
	// and Contrastive Revisions", arXiv 2408.06266. TRL dpo_trainer.py "apo_zero".
	APOZero = "apo_zero"

	// APODown is APO-down (lower the chosen, lower the rejected more):
	//
	//	a = βr_w    u = βΔ
	//	ℓ = σ(a) + 1 − σ(u)
	//	d_w = β[σ'(u) − σ'(a)]    d_l = βσ'(u)
	//
	// Margin u. d_w < 0 is intended. arXiv 2408.06266; TRL dpo_trainer.py "apo_down".
	APODown = "apo_down"

	// SigmoidNorm is length-normalised DPO (keeps the reference, no γ):
	//
	//	δ = r_w/|y_w| − r_l/|y_l|    u = βδ
	//	ℓ = −log σ(u)
	//	d_w = βσ(−u)/|y_w|    d_l = βσ(−u)/|y_l|
	//
	// Margin u. TRL dpo_trainer.py "sigmoid_norm" (TRL's docs relate it to
	// SimPO, arXiv 2405.14734, which however drops the reference).
	SigmoidNorm = "sigmoid_norm"

	// DiscoPOP is the log-ratio modulated loss found by LLM-driven discovery:
	//
	//	u = βΔ    m = σ(u/τ)
	//	ℓ = (1−m)(−log σ(u)) + m·e^{−u}
	//	ℓ'(u) = m(1−m)/τ·(e^{−u} + log σ(u)) − (1−m)σ(−u) − m·e^{−u}
	//	d_w = d_l = −β ℓ'(u)
	//
	// Margin u. Chris Lu et al. 2024, "Discovering Preference Optimization
	// Algorithms with and for Large Language Models", arXiv 2406.08414.
	// TRL dpo_trainer.py "discopop".
	DiscoPOP = "discopop"

	// SLiC is SLiC-HF's calibration hinge on summed log-probs, plus an
	// optional chosen NLL (reference-free):
	//
	//	u = z_w − z_l
	//	ℓ = max(0, δ − u) + c·NLL
	//	d_w = 1[u < δ] + c/|y_w|    d_l = 1[u < δ]
	//
	// Margin u. SLiC-HF's regulariser is −λ log π(y_ref|x) summed over tokens;
	// here it is the package's mean-token NLL with c = NLLCoef (default 0).
	// Zhao et al. 2023, "SLiC-HF: Sequence Likelihood Calibration with Human
	// Feedback", arXiv 2305.10425.
	SLiC = "slic"

	// KTOPair is KTO applied to a pair: the chosen as a desirable example and
	// the rejected as an undesirable one, against the reference point
	// z0 = max(0, Pair.KL), which is held constant:
	//
	//	a = β(r_w − z0)    b = β(z0 − r_l)
	//	ℓ = λ_D(1 − σ(a)) + λ_U(1 − σ(b))
	//	d_w = λ_D βσ'(a)    d_l = λ_U βσ'(b)
	//
	// Margin βΔ. Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect
	// Theoretic Optimization", arXiv 2402.01306. TRL trl/trainer/kto_trainer.py
	// (loss_type "kto", with the pair split into two unpaired examples).
	KTOPair = "kto_pair"

	// ORPO is odds-ratio preference optimisation in TRL's form (reference-free,
	// per-token mean log-probs, p = e^{z̄}):
	//
	//	lo(z̄) = z̄ − log(1 − e^{z̄})    (log-odds; lo' = 1/(1 − p))
	//	u = lo(z̄_w) − lo(z̄_l)
	//	ℓ = c·NLL − β log σ(u)
	//	d_w = [βσ(−u)/(1 − p_w) + c]/|y_w|    d_l = βσ(−u)/((1 − p_l)|y_l|)
	//
	// Margin u (the log odds ratio). c = NLLCoef, fixed at 1 in TRL. Needs
	// z_w, z_l < 0 (the result is not finite at log-prob 0). Hong et al. 2024,
	// "ORPO: Monolithic Preference Optimization without Reference Model",
	// arXiv 2403.07691. TRL trl/experimental/orpo/orpo_trainer.py.
	ORPO = "orpo"

	// SimPO is TRL CPOTrainer's "simpo" (reference-free, per-token mean
	// log-probs, target margin γ), with optional label smoothing and NLL:
	//
	//	u = β(z̄_w − z̄_l) − γ
	//	ℓ = −(1−ε) log σ(u) − ε log σ(−u) + c·NLL
	//	s = β[(1−ε)σ(−u) − εσ(u)]
	//	d_w = s/|y_w| + c/|y_w|    d_l = s/|y_l|
	//
	// Margin u. So r = d_w/d_l = |y_l|/|y_w| when c = 0. Default c = 0, as in
	// the paper's runs (cpo_alpha=0); TRL's CPOConfig default cpo_alpha=1 gives
	// "CPO-SimPO". Meng et al. 2024, "SimPO: Simple Preference Optimization
	// with a Reference-Free Reward", arXiv 2405.14734.
	// TRL trl/experimental/cpo/cpo_trainer.py.
	SimPO = "simpo"

	// CPO is TRL CPOTrainer's "sigmoid": reference-free DPO on summed
	// log-probs plus a behaviour-cloning NLL:
	//
	//	u = β(z_w − z_l)
	//	ℓ = −(1−ε) log σ(u) − ε log σ(−u) + c·NLL
	//	d_w = β[(1−ε)σ(−u) − εσ(u)] + c/|y_w|    d_l = β[(1−ε)σ(−u) − εσ(u)]
	//
	// Margin u. c = NLLCoef (TRL cpo_alpha, default 1). Xu et al. 2024,
	// "Contrastive Preference Optimization", arXiv 2401.08417.
	// TRL trl/experimental/cpo/cpo_trainer.py.
	CPO = "cpo"

	// RDPO is length-regularised DPO:
	//
	//	u = βΔ + α(|y_w| − |y_l|)
	//	ℓ = −log σ(u)
	//	d_w = d_l = βσ(−u)
	//
	// Margin u. The length term is constant in θ: it changes the weight, not
	// the direction. Lengths count response tokens including EOS in the
	// authors' code. Park et al. 2024, "Disentangling Length from Quality in
	// Direct Preference Optimization", arXiv 2403.19159; form and α = 0.2 from
	// HumainLab/Understand_MarginPO dpo.py ("rdpo").
	RDPO = "rdpo"

	// DPOP is DPO-Positive with the penalty on summed log-probs (the authors' "pdpo"):
	//
	//	u = β(Δ − λ·max(0, z_w^ref − z_w))
	//	ℓ = −log σ(u)
	//	d_w = βσ(−u)(1 + λ·1[z_w < z_w^ref])    d_l = βσ(−u)
	//
	// Margin u. Pal et al. 2024, "Smaug: Fixing Failure Modes of Preference
	// Optimisation with DPO-Positive", arXiv 2402.13228; form and λ = 50 from
	// HumainLab/Understand_MarginPO dpo.py ("pdpo").
	DPOP = "dpop"

	// RRHF is the authors' RRHF: a ranking hinge on per-token mean log-probs
	// plus the chosen NLL (reference-free):
	//
	//	u = z̄_w − z̄_l
	//	ℓ = max(0, −u) + c·NLL
	//	d_w = 1[u < 0]/|y_w| + c/|y_w|    d_l = 1[u < 0]/|y_l|
	//
	// Margin u. c = NLLCoef, 1 by default: TRL's cpo_alpha default, which the
	// authors' run did not override. Yuan et al. 2023, "RRHF: Rank Responses
	// to Align Language Models with Human Feedback", arXiv 2304.05302; form
	// from HumainLab/Understand_MarginPO cpo.py (MyCPOTrainer, "rrhf").
	RRHF = "rrhf"
)

// trlBeta is TRL's default β (DPOConfig, CPOConfig, ORPOConfig, KTOConfig).
const trlBeta = 0.1

// registry lists every loss. Defaults: TRL where TRL has the loss; the
// paper's repository for rdpo, dpop, rrhf, sppo and simpo's cpo_alpha;
// SLiC-HF's δ = 1 for slic.
var registry = map[string]spec{
	Sigmoid: {true, []string{"Beta", "LabelSmoothing"}, Params{Beta: trlBeta}, evalSigmoid},
	Hinge:   {true, []string{"Beta"}, Params{Beta: trlBeta}, evalHinge},
	IPO:     {true, []string{"Beta"}, Params{Beta: trlBeta}, evalIPO},
	Robust:  {true, []string{"Beta", "LabelSmoothing"}, Params{Beta: trlBeta}, evalRobust},
	// TRL's exo_pair needs label_smoothing > 0 and its docs recommend 1e-3.
	ExoPair:     {true, []string{"Beta", "LabelSmoothing"}, Params{Beta: trlBeta, LabelSmoothing: 1e-3}, evalExoPair},
	NCAPair:     {true, []string{"Beta"}, Params{Beta: trlBeta}, evalNCAPair},
	BCOPair:     {true, []string{"Beta"}, Params{Beta: trlBeta}, evalBCOPair},
	SPPOHard:    {true, []string{"Beta"}, Params{Beta: trlBeta}, evalSPPOHard},
	SPPO:        {true, []string{"Beta"}, Params{Beta: trlBeta}, evalSPPO},
	APOZero:     {true, []string{"Beta"}, Params{Beta: trlBeta}, evalAPOZero},
	APODown:     {true, []string{"Beta"}, Params{Beta: trlBeta}, evalAPODown},
	SigmoidNorm: {true, []string{"Beta"}, Params{Beta: trlBeta}, evalSigmoidNorm},
	DiscoPOP:    {true, []string{"Beta", "Tau"}, Params{Beta: trlBeta, Tau: 0.05}, evalDiscoPOP},
	SLiC:        {false, []string{"Delta", "NLLCoef"}, Params{Delta: 1}, evalSLiC},
	KTOPair: {true, []string{"Beta", "DesirableWeight", "UndesirableWeight"},
		Params{Beta: trlBeta, DesirableWeight: 1, UndesirableWeight: 1}, evalKTOPair},
	ORPO:  {false, []string{"Beta", "NLLCoef"}, Params{Beta: trlBeta, NLLCoef: 1}, evalORPO},
	SimPO: {false, []string{"Beta", "Gamma", "LabelSmoothing", "NLLCoef"}, Params{Beta: trlBeta, Gamma: 0.5}, evalSimPO},
	CPO:   {false, []string{"Beta", "LabelSmoothing", "NLLCoef"}, Params{Beta: trlBeta, NLLCoef: 1}, evalCPO},
	RDPO:  {true, []string{"Beta", "Alpha"}, Params{Beta: trlBeta, Alpha: 0.2}, evalRDPO},
	DPOP:  {true, []string{"Beta", "Lambda"}, Params{Beta: trlBeta, Lambda: 50}, evalDPOP},
	RRHF:  {false, []string{"NLLCoef"}, Params{NLLCoef: 1}, evalRRHF},
}

// logRatios returns r_w = z_w − z_w^ref and r_l = z_l − z_l^ref.
func logRatios(p Pair) (rw, rl float64) {
	return p.Chosen - p.RefChosen, p.Rejected - p.RefRejected
}

// smoothedSigmoid is −(1−ε) log σ(u) − ε log σ(−u) and minus its derivative
// in u, (1−ε)σ(−u) − εσ(u). With ε = 0 it is DPO's −log σ(u), σ(−u).
func smoothedSigmoid(u, eps float64) (l, dl float64) {
	l = -(1-eps)*logSigmoid(u) - eps*logSigmoid(-u)
	dl = (1-eps)*sigmoid(-u) - eps*sigmoid(u)
	return l, dl
}

// evalSigmoid implements Sigmoid (DPO, cDPO).
func evalSigmoid(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	u := q.Beta * (rw - rl)
	l, s := smoothedSigmoid(u, q.LabelSmoothing)
	return Result{Loss: l, Margin: u, DW: q.Beta * s, DL: q.Beta * s}
}

// evalHinge implements Hinge.
func evalHinge(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	u := q.Beta * (rw - rl)
	d := q.Beta * step(1-u)
	return Result{Loss: relu(1 - u), Margin: u, DW: d, DL: d}
}

// evalIPO implements IPO (TRL's length-averaged form).
func evalIPO(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	nw, nl := float64(p.LenChosen), float64(p.LenRejected)
	delta := rw/nw - rl/nl
	e := delta - 1/(2*q.Beta) // ℓ = e², ∂ℓ/∂δ = 2e
	return Result{Loss: e * e, Margin: delta, DW: -2 * e / nw, DL: -2 * e / nl}
}

// evalRobust implements Robust.
func evalRobust(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	u := q.Beta * (rw - rl)
	eps := q.LabelSmoothing
	den := 1 - 2*eps
	l := (-(1-eps)*logSigmoid(u) + eps*logSigmoid(-u)) / den
	d := q.Beta * ((1-eps)*sigmoid(-u) + eps*sigmoid(u)) / den
	return Result{Loss: l, Margin: u, DW: d, DL: d}
}

// evalExoPair implements ExoPair.
func evalExoPair(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	u := q.Beta * (rw - rl)
	eps := q.LabelSmoothing
	qw, qlose := sigmoid(u), sigmoid(-u)
	l := qw*(logSigmoid(u)-math.Log1p(-eps)) + qlose*(logSigmoid(-u)-math.Log(eps))
	// ∂ℓ/∂u = σ'(u)(log q_w − log q_l − log(1−ε) + log ε) = σ'(u)(u − log((1−ε)/ε)).
	d := q.Beta * dsigmoid(u) * (math.Log1p(-eps) - math.Log(eps) - u)
	return Result{Loss: l, Margin: u, DW: d, DL: d}
}

// evalNCAPair implements NCAPair.
func evalNCAPair(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	a, b := q.Beta*rw, q.Beta*rl
	l := -logSigmoid(a) - 0.5*logSigmoid(-a) - 0.5*logSigmoid(-b)
	return Result{Loss: l, Margin: a - b,
		DW: q.Beta * (sigmoid(-a) - 0.5*sigmoid(a)),
		DL: 0.5 * q.Beta * sigmoid(b)}
}

// evalBCOPair implements BCOPair.
func evalBCOPair(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	a, b := q.Beta*rw, q.Beta*rl
	return Result{Loss: -logSigmoid(a) - logSigmoid(-b), Margin: a - b,
		DW: q.Beta * sigmoid(-a), DL: q.Beta * sigmoid(b)}
}

// sppoTerms returns the two residuals of SPPO-hard, r_w − 1/(2β) and r_l + 1/(2β).
func sppoTerms(p Pair, beta float64) (ew, el float64) {
	rw, rl := logRatios(p)
	return rw - 0.5/beta, rl + 0.5/beta
}

// evalSPPOHard implements SPPOHard.
func evalSPPOHard(p Pair, q *Params) Result {
	ew, el := sppoTerms(p, q.Beta)
	rw, rl := logRatios(p)
	return Result{Loss: ew*ew + el*el, Margin: q.Beta * (rw - rl), DW: -2 * ew, DL: 2 * el}
}

// evalSPPO implements SPPO (the authors' halved SPPO-hard).
func evalSPPO(p Pair, q *Params) Result {
	ew, el := sppoTerms(p, q.Beta)
	rw, rl := logRatios(p)
	return Result{Loss: (ew*ew + el*el) / 2, Margin: q.Beta * (rw - rl), DW: -ew, DL: el}
}

// evalAPOZero implements APOZero.
func evalAPOZero(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	a, b := q.Beta*rw, q.Beta*rl
	return Result{Loss: 1 - sigmoid(a) + sigmoid(b), Margin: a - b,
		DW: q.Beta * dsigmoid(a), DL: q.Beta * dsigmoid(b)}
}

// evalAPODown implements APODown.
func evalAPODown(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	a := q.Beta * rw
	u := q.Beta * (rw - rl)
	return Result{Loss: sigmoid(a) + 1 - sigmoid(u), Margin: u,
		DW: q.Beta * (dsigmoid(u) - dsigmoid(a)), DL: q.Beta * dsigmoid(u)}
}

// evalSigmoidNorm implements SigmoidNorm.
func evalSigmoidNorm(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	nw, nl := float64(p.LenChosen), float64(p.LenRejected)
	u := q.Beta * (rw/nw - rl/nl)
	s := q.Beta * sigmoid(-u)
	return Result{Loss: -logSigmoid(u), Margin: u, DW: s / nw, DL: s / nl}
}

// evalDiscoPOP implements DiscoPOP.
func evalDiscoPOP(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	u := q.Beta * (rw - rl)
	m := sigmoid(u / q.Tau)
	logistic := -logSigmoid(u)
	expo := math.Exp(-u)
	l := (1-m)*logistic + m*expo
	// ℓ'(u) = m'(u)(e^{−u} − (−log σ(u))) + (1−m)(−σ(−u)) + m(−e^{−u}), m' = m(1−m)/τ.
	dm := m * (1 - m) / q.Tau
	dldu := dm*(expo-logistic) - (1-m)*sigmoid(-u) - m*expo
	d := -q.Beta * dldu
	return Result{Loss: l, Margin: u, DW: d, DL: d}
}

// evalSLiC implements SLiC.
func evalSLiC(p Pair, q *Params) Result {
	u := p.Chosen - p.Rejected
	d := step(q.Delta - u)
	r := Result{Loss: relu(q.Delta - u), Margin: u, DW: d, DL: d}
	addNLL(&r, p, q.NLLCoef)
	return r
}

// evalKTOPair implements KTOPair.
func evalKTOPair(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	z0 := math.Max(0, p.KL) // TRL clamps the KL estimate at 0
	a := q.Beta * (rw - z0)
	b := q.Beta * (z0 - rl)
	l := q.DesirableWeight*(1-sigmoid(a)) + q.UndesirableWeight*(1-sigmoid(b))
	// ∂ℓ/∂z_w = −λ_D σ'(a)β and ∂ℓ/∂z_l = −λ_U σ'(b)(−β).
	return Result{Loss: l, Margin: q.Beta * (rw - rl),
		DW: q.DesirableWeight * q.Beta * dsigmoid(a),
		DL: q.UndesirableWeight * q.Beta * dsigmoid(b)}
}

// evalORPO implements ORPO.
func evalORPO(p Pair, q *Params) Result {
	nw, nl := float64(p.LenChosen), float64(p.LenRejected)
	mw, ml := p.Chosen/nw, p.Rejected/nl // z̄_w, z̄_l
	u := (mw - log1mexp(mw)) - (ml - log1mexp(ml))
	s := q.Beta * sigmoid(-u)
	// lo'(z̄) = 1/(1 − e^{z̄}); −expm1(z̄) is 1 − e^{z̄} without cancellation.
	r := Result{Loss: -q.Beta * logSigmoid(u), Margin: u,
		DW: s / (-math.Expm1(mw)) / nw,
		DL: s / (-math.Expm1(ml)) / nl}
	addNLL(&r, p, q.NLLCoef)
	return r
}

// evalSimPO implements SimPO.
func evalSimPO(p Pair, q *Params) Result {
	nw, nl := float64(p.LenChosen), float64(p.LenRejected)
	u := q.Beta*(p.Chosen/nw-p.Rejected/nl) - q.Gamma
	l, s := smoothedSigmoid(u, q.LabelSmoothing)
	r := Result{Loss: l, Margin: u, DW: q.Beta * s / nw, DL: q.Beta * s / nl}
	addNLL(&r, p, q.NLLCoef)
	return r
}

// evalCPO implements CPO.
func evalCPO(p Pair, q *Params) Result {
	u := q.Beta * (p.Chosen - p.Rejected)
	l, s := smoothedSigmoid(u, q.LabelSmoothing)
	r := Result{Loss: l, Margin: u, DW: q.Beta * s, DL: q.Beta * s}
	addNLL(&r, p, q.NLLCoef)
	return r
}

// evalRDPO implements RDPO.
func evalRDPO(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	u := q.Beta*(rw-rl) + q.Alpha*float64(p.LenChosen-p.LenRejected)
	d := q.Beta * sigmoid(-u)
	return Result{Loss: -logSigmoid(u), Margin: u, DW: d, DL: d}
}

// evalDPOP implements DPOP.
func evalDPOP(p Pair, q *Params) Result {
	rw, rl := logRatios(p)
	pen := relu(p.RefChosen - p.Chosen) // max(0, −r_w)
	u := q.Beta * (rw - rl - q.Lambda*pen)
	d := q.Beta * sigmoid(-u)
	return Result{Loss: -logSigmoid(u), Margin: u,
		DW: d * (1 + q.Lambda*step(p.RefChosen-p.Chosen)), DL: d}
}

// evalRRHF implements RRHF.
func evalRRHF(p Pair, q *Params) Result {
	nw, nl := float64(p.LenChosen), float64(p.LenRejected)
	u := p.Chosen/nw - p.Rejected/nl
	h := step(-u)
	r := Result{Loss: relu(-u), Margin: u, DW: h / nw, DL: h / nl}
	addNLL(&r, p, q.NLLCoef)
	return r
}
