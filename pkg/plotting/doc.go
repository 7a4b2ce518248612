// Package plotting draws the figures of the entangle toolkit (paper §5.2 and
// issue 6) with gonum.org/v1/plot. It is pure: every function takes named Go
// series and returns a *Figure (a grid of *plot.Plot panels); nothing here
// reads files or flags. cmd/plot turns train's Arrow outputs into these
// series.
//
// # Figures
//
//	Dynamics        chosen/rejected log-probs and their difference over steps, train and held-out, one colour per run
//	Entanglement    cos(g_w, g_l) and ⟨g_w, g_l⟩ over steps: median line and q25–q75 band per run
//	ConditionPlane  each pair at (⟨g_w,g_l⟩/‖g_w‖², ⟨g_w,g_l⟩/‖g_l‖²), the three case regions shaded
//	CaseFractions   stacked fractions of pairs in case 1 (ideal), 2 (both fall), 3 (both rise) per step
//	GroupShares     share of ⟨g_w,g_l⟩, ‖g_w‖², ‖g_l‖² carried by each parameter group over steps
//	TokenHeatmap    chosen × rejected per-token gradient cosines, blue (−1) – white (0) – red (+1)
//	FirstOrder      predicted ⟨g, Δθ⟩ against observed change of log π_w and log π_l, with y = x
//
// # The condition plane (paper §3.1.1, Table 1)
//
// With I = ⟨g_w,g_l⟩, the chosen ratio x = I/‖g_w‖² and the rejected ratio
// y = I/‖g_l‖², the first-order changes of an update along g_w − g_l (d_w = d_l)
// are ΔW ∝ ‖g_w‖²(1 − x) and ΔL ∝ ‖g_l‖²(y − 1), so
//
//	case 1 ideal      x ≤ 1, y ≤ 1   (chosen rises, rejected falls)
//	case 2 both fall  x > 1, y ≤ 1
//	case 3 both rise  x ≤ 1, y > 1
//	x > 1, y > 1      impossible: x·y = cos² ≤ 1 (Cauchy–Schwarz)
//
// and x, y always share the sign of I, so the second and fourth quadrants and
// the region x·y > 1 are empty; they are drawn in grey. PlaneRegion gives the
// region of a point; it agrees with entangle.Pair(...).Case.
//
// # Readability at scale
//
// Long series are thinned (Thin: per-bucket minimum and maximum, so spikes
// survive) to at most MaxLinePoints points per line; scatter layers with more
// than RasterAbove points are drawn as one raster image (Scatter.Rasterize) so
// that SVG and PDF files stay small; quantile bands use the type-7 quantiles of
// entangle.Describe.
//
// # Parameter groups
//
// GroupBuckets aggregates model.Tensors names when there are more than a
// panel can show: first by layer and kind — "embeddings" (wte, wpe),
// "layer l attention" (h.l.ln1.*, h.l.attn.*), "layer l MLP" (h.l.ln2.*,
// h.l.mlp.*), "final LN/head" (lnf.*, lm_head.*), "other" — and, when that is
// still too many, by kind only ("attention (all layers)", "MLP (all layers)").
//
// # Output
//
// Figure.Render writes PNG, SVG or PDF. SVG output is post-processed (see
// FixSVG) because gonum's SVG backend labels embedded PNG images as JPEG and
// omits preserveAspectRatio="none", which standards renderers then draw
// wrongly.
package plotting
