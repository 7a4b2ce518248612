package gradstat

// Table names accepted by -table.
const (
	TablePairs  = "pairs"
	TableSteps  = "steps"
	TableGroups = "groups"
	TableTokens = "tokens"
	TableAttrib = "attrib"
)

// Tables lists the table names in documentation order.
var Tables = []string{TableSteps, TablePairs, TableGroups, TableTokens, TableAttrib, TableRuns}

var runCols = []Column{
	{"run", String, "run label: the sweep's key=value path parts (task=…/loss=…/seed=…), else the run directory or file name"},
	{"run_id", String, "train's run_id (hash of the resolved train config)"},
	{"loss", String, "loss name from the run's metadata (\"\" for sft)"},
	{"step", Int, "optimizer step"},
	{"kind", String, "train (the step's batch) or probe (fixed probe pairs at dump steps)"},
}

func cols(groups ...[]Column) []Column {
	var out []Column
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// PairColumns are the columns of the pairs table: one row per pair, step and
// source (pairs.arrows, and the recomputation from grads.arrows).
var PairColumns = cols(runCols, []Column{
	{"pair", Int, "example id"},
	{"source", String, "pairs (train's exact reductions from pairs.arrows) or grads (recomputed by gradstat from grads.arrows sequence rows)"},
	{"estimate", Bool, "true when the row comes from sketched gradients (grads.arrows sketch:K): dot, norms and everything derived are JL estimates"},
	{"dot", Float, "I = ⟨g_w,g_l⟩"},
	{"dot_se", Float, "standard error of dot (sketch: √((‖Sg_w‖²‖Sg_l‖²+⟨Sg_w,Sg_l⟩²)/K), conservative); 0 when exact"},
	{"norm_w", Float, "‖g_w‖"},
	{"norm_l", Float, "‖g_l‖"},
	{"cos", Float, "I/(‖g_w‖‖g_l‖)"},
	{"norm_ratio", Float, "‖g_l‖/‖g_w‖"},
	{"chosen_ratio", Float, "I/‖g_w‖² (≤ 1 ⇔ chosen rises under DPO)"},
	{"rejected_ratio", Float, "I/‖g_l‖² (≤ 1 ⇔ rejected falls under DPO)"},
	{"R", Float, "I/min(‖g_w‖²,‖g_l‖²) (paper §3.2; case 1 ⇔ R ≤ 1)"},
	{"case", Int, "paper Table 1 case with d_w = d_l: 1 ideal, 2 both fall, 3 both rise, 0 undefined"},
	{"loss_case", Int, "case with the weights the update applied, d_w, d_l (the pairwise-normalized ones under -normalize; 4 = chosen falls and rejected rises; 0 undefined or weights unknown)"},
	{"dw", Float, "d_w = −∂ℓ/∂log π_w, the coefficient of g_w in the update (under -normalize the normalized one, train's cw)"},
	{"dl", Float, "d_l = +∂ℓ/∂log π_l (under -normalize train's cl)"},
	{"pred_dw_sgd", Float, "d_w‖g_w‖² − d_l I: first-order change of log π_w per unit SGD step size"},
	{"pred_dl_sgd", Float, "d_w I − d_l‖g_l‖²: first-order change of log π_l per unit SGD step size"},
	{"logp_w", Float, "log π(y_w|x) before the step"},
	{"logp_l", Float, "log π(y_l|x) before the step"},
	{"pred_w", Float, "probe: ⟨g_w,Δθ⟩ for the update actually applied (train's, or recomputed from the update row for source grads)"},
	{"pred_l", Float, "probe: ⟨g_l,Δθ⟩"},
	{"obs_w", Float, "probe: observed change logp_w_after − logp_w"},
	{"obs_l", Float, "probe: observed change logp_l_after − logp_l"},
	{"relerr_w", Float, "probe: |obs−pred|/max(|pred|,|obs|) for the chosen (≤ 1 ⇔ signs agree)"},
	{"relerr_l", Float, "probe: the same for the rejected"},
	{"relerr_margin", Float, "probe: the same for the margin change (w − l)"},
	{"pred_case", Int, "probe: case of the signs of (pred_w, pred_l)"},
	{"obs_case", Int, "probe: case of the signs of (obs_w, obs_l)"},
	{"case_match", Bool, "probe: pred_case == obs_case"},
	{"ches", Float, "CHES (Razin et al. 2024): ⟨H_w,H_l⟩ − ‖H_w‖² of the summed final hidden states"},
	{"ches_norm", Float, "length-normalized CHES: ⟨H_w/n_w,H_l/n_l⟩ − ‖H_w/n_w‖²"},
	{"warnings", Int, "number of warnings for this row (printed on stderr)"},
})

// distCols returns the mean/median/quantile columns of a statistic.
func distCols(name, doc string) []Column {
	return []Column{
		{name + "_mean", Float, "mean over pairs of " + doc},
		{name + "_median", Float, "median over pairs of " + doc},
		{name + "_q05", Float, "5% quantile (type 7) of " + doc},
		{name + "_q25", Float, "25% quantile of " + doc},
		{name + "_q75", Float, "75% quantile of " + doc},
		{name + "_q95", Float, "95% quantile of " + doc},
	}
}

// StepColumns are the columns of the steps table: one row per run, step and
// kind, summarizing the pairs of pairs.arrows.
var StepColumns = cols(runCols, []Column{{"n", Int, "pairs in the step (of this kind)"}},
	distCols("cos", "cos"), distCols("R", "R"), []Column{
		{"case1", Float, "fraction of pairs in paper case 1 (ideal)"},
		{"case2", Float, "fraction in case 2 (both fall)"},
		{"case3", Float, "fraction in case 3 (both rise)"},
		{"loss_case1", Float, "fraction in loss-aware case 1"},
		{"loss_case2", Float, "fraction in loss-aware case 2"},
		{"loss_case3", Float, "fraction in loss-aware case 3"},
		{"loss_case4", Float, "fraction in loss-aware case 4 (chosen falls, rejected rises)"},
		{"undefined", Float, "fraction whose case is undefined (NaN inputs)"},
		{"logp_w_mean", Float, "mean log π(y_w|x) of the pairs"},
		{"logp_l_mean", Float, "mean log π(y_l|x) of the pairs"},
		{"batch_dot", Float, "train rows: ⟨ḡ_w,ḡ_l⟩ of the batch-mean gradients (steps.arrows)"},
		{"batch_cos", Float, "train rows: batch_dot/√(batch_ww·batch_ll) (steps.arrows)"},
		{"batch_cos_mean", Float, "train rows: steps.arrows cos_mean (train's own per-pair mean, a cross-check of cos_mean)"},
		{"fo_n", Int, "probe rows: pairs with a first-order check (pred and obs present)"},
		{"fo_relerr_w_median", Float, "probe rows: median relerr_w"},
		{"fo_relerr_l_median", Float, "probe rows: median relerr_l"},
		{"fo_match", Float, "probe rows: fraction with case_match"},
		{"warned", Int, "pairs with at least one warning"},
	})

// GroupColumns are the columns of the groups table: one row per run, step,
// kind and parameter group.
var GroupColumns = cols(runCols, []Column{
	{"group", String, "parameter group name (the model's tensor table; under train -lora then the adapters' <module>.lora_A/.lora_B)"},
	{"n", Int, "pairs summed"},
	{"dot", Float, "Σ over pairs of the group's ⟨g_w,g_l⟩"},
	{"ww", Float, "Σ over pairs of the group's ‖g_w‖²"},
	{"ll", Float, "Σ over pairs of the group's ‖g_l‖²"},
	{"dot_share", Float, "dot / Σ over pairs of the total dot (shares sum to 1 over groups); an adapter group's of the adapter total (Σ over the adapter groups)"},
	{"ww_share", Float, "ww / Σ total ww"},
	{"ll_share", Float, "ll / Σ total ll"},
	{"cos_mean", Float, "mean over pairs of the group's cosine dot_g/√(ww_g·ll_g) (zero-norm groups skipped)"},
})

// TokenColumns are the columns of the tokens table: the chosen × rejected
// cosine matrix entries of the per-token gradients of grads.arrows, and one
// summary row (i = j = −1) per run, step, kind and pair.
var TokenColumns = cols(runCols, []Column{
	{"pair", Int, "example id"},
	{"estimate", Bool, "true for sketched gradients"},
	{"i", Int, "chosen response token index (−1 on the summary row)"},
	{"j", Int, "rejected response token index (−1 on the summary row)"},
	{"token_w", String, "chosen token string (vocab metadata; null on summary rows)"},
	{"token_l", String, "rejected token string"},
	{"contrastive_w", Bool, "chosen token i is contrastive"},
	{"contrastive_l", Bool, "rejected token j is contrastive"},
	{"cos", Float, "cosine of the per-token gradients ∇log π(y_w,i) and ∇log π(y_l,j)"},
	{"contrastive_mean", Float, "summary: mean cos over contrastive×contrastive entries"},
	{"contrastive_n", Int, "summary: entries in that mean"},
	{"aligned_shared_mean", Float, "summary: mean cos over end-aligned shared token pairs"},
	{"aligned_shared_n", Int, "summary: entries in that mean"},
	{"other_mean", Float, "summary: mean cos over every other entry"},
	{"other_n", Int, "summary: entries in that mean"},
})

// AttribColumns are the columns of the attrib table: one row per run, dump
// step, probe pair and training pair of attrib.arrows (train -attrib); kind
// is "probe".
var AttribColumns = cols(runCols, []Column{
	{"probe", Int, "probe pair id (the pair whose change is attributed)"},
	{"pair", Int, "training pair id (one of the step's batch)"},
	{"own", Bool, "pair = probe (the probe is itself in the batch; never for held-out probes)"},
	{"batch", Int, "B, the pairs of the step"},
	{"ww", Float, "⟨g_w^p, g_w,i⟩ (p the probe, i the training pair)"},
	{"wl", Float, "⟨g_w^p, g_l,i⟩"},
	{"lw", Float, "⟨g_l^p, g_w,i⟩"},
	{"ll", Float, "⟨g_l^p, g_l,i⟩"},
	{"cw", Float, "coefficient of g_w,i the step applied (pairs.arrows cw)"},
	{"cl", Float, "coefficient of g_l,i (pairs.arrows cl)"},
	{"contrib_w", Float, "(cw·ww − cl·wl)/B: pair i's share of the first-order change of the probe's log π_w per unit SGD step size"},
	{"contrib_l", Float, "(cw·lw − cl·ll)/B: the same for the probe's log π_l"},
	{"sum_w", Float, "Σ of contrib_w over the step's training pairs (the same on every row of the step and probe): ⟨g_w^p, −dst⟩"},
	{"sum_l", Float, "Σ of contrib_l over the step's training pairs"},
	{"lr", Float, "the step's learning rate (steps.arrows; null without it)"},
	{"pred_w", Float, "the probe's pred_w = ⟨g_w^p, Δθ⟩ (pairs.arrows; null without it): equals lr·sum_w under SGD without clipping"},
	{"pred_l", Float, "the probe's pred_l: equals lr·sum_l under SGD without clipping"},
})

// ColumnsOf returns the columns of the named table, or nil if unknown.
func ColumnsOf(table string) []Column {
	switch table {
	case TablePairs:
		return PairColumns
	case TableSteps:
		return StepColumns
	case TableGroups:
		return GroupColumns
	case TableTokens:
		return TokenColumns
	case TableAttrib:
		return AttribColumns
	case TableRuns:
		return RunColumns(nil)
	}
	return nil
}
