// Package gradstat turns train's run outputs (steps.arrows, pairs.arrows,
// grads.arrows; docs/FORMATS.md) into gradient-entanglement statistics
// (Yuan et al. 2024, arXiv 2410.13828; cited as "paper §n"), as tables written to Arrow or text: the library layer of the
// gradstat command.
//
// All the mathematics is pkg/entangle's (Pair, FirstOrder, Summarize, CHES,
// CosineMatrix, TokenSummarize, DotNorms, SketchStdErr); this package reads,
// joins and tabulates:
//
//   - pairs: one row per pair and step from pairs.arrows (train's exact
//     reductions ⟨g_w,g_l⟩, ‖g_w‖², ‖g_l‖²) and, when grads.arrows holds
//     sequence gradients, one more row recomputed from the vectors
//     (source "grads"; estimates with a standard error for sketch:K dumps):
//     cos, norm ratio, chosen/rejected ratios, R = I/min(‖g_w‖²,‖g_l‖²),
//     paper case (Table 1) and loss-aware case, the first-order SGD
//     predictions, and for probe pairs the first-order check of the update
//     actually applied (paper §7 claims 1–4), CHES (Razin et al. 2024).
//   - steps: per run, step and kind, the distribution of cos and R over pairs,
//     case fractions, mean log-probs, the batch-level figures of steps.arrows
//     and the first-order agreement of probes.
//   - groups: per parameter group sums of the reductions, their shares of
//     the total and the mean per-group cosine (which layers carry the
//     entanglement). Groups that do not add up to the totals are warned about.
//   - tokens: the chosen × rejected cosine matrix of per-token gradients
//     (paper §4.2, §7 claim 9) with token strings and contrastive flags, and
//     its summary per pair (contrastive×contrastive, aligned shared, other).
//   - attrib: from attrib.arrows (train -attrib), per dump step, probe and
//     training pair, the pair's contributions (cw·ww − cl·wl)/B and
//     (cw·lw − cl·ll)/B to the probe's first-order change, their sums over
//     the batch and the probe's pred_w, pred_l for the SGD check.
//
// The engine writes one table (a file per table: pairs.go, steps.go,
// groups.go, tokens.go, attrib.go, runtable.go, each with the column list
// that generates docs/FORMATS.md and the code that sets those columns by
// name) and hands every step, with its statistics, to Collectors: the
// -summary view (SummaryWriter), the runs table (RunCollector, whose
// KindStats.Headline are the headline figures every view prints) and plot's
// figure data (pkg/plotting.Reader).
//
// Memory: the streams of a run are read in lockstep by step (Process), so
// only one step of each is held, and the output is written step by step.
// Gradient vectors of a step are reduced by several goroutines, one pair per
// goroutine in a fixed order, so results do not depend on GOMAXPROCS.
//
// Undefined values (division by a zero norm, NaN inputs) are written as
// null and reported as warnings naming run, step and pair; they never stop
// the run. Data errors (bad format, version, vectors of mismatched length,
// truncated streams, steps out of order) are returned as *InputError,
// "file:step N: msg", after the complete steps before them have been
// written.
package gradstat
