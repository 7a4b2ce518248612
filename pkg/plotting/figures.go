package plotting

import (
	"fmt"
	"image/color"
	"math"

	"entangle/pkg/entangle"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Axis labels with units shared by the figures.
const (
	stepLabel  = "step (optimizer updates)"
	logpLabel  = "log π(y|x) (nats, summed over response tokens)"
	ratioLabel = "(dimensionless)"
)

// line returns the thinned line of (x, y) in a style, or nil when it has no
// finite point.
func line(x, y []float64, sty draw.LineStyle) *plotter.Line {
	tx, ty := Thin(x, y, MaxLinePoints)
	if len(tx) == 0 {
		return nil
	}
	xys := make(plotter.XYs, len(tx))
	for i := range tx {
		xys[i] = plotter.XY{X: tx[i], Y: ty[i]}
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		panic("plotting: " + err.Error()) // Thin removed non-finite points
	}
	l.LineStyle = sty
	return l
}

// addLine adds the line of (x, y) to p when it has points.
func addLine(p *plot.Plot, x, y []float64, sty draw.LineStyle) {
	if l := line(x, y, sty); l != nil {
		p.Add(l)
	}
}

func runStyle(i int, width vg.Length) draw.LineStyle {
	return draw.LineStyle{Color: RunColor(i), Width: width, Dashes: RunDashes(i)}
}

// grid lays panels out cols to a row and appends the legend panel (if any)
// as an extra, narrower column on the first row.
func grid(panels []*plot.Plot, cols int, legend *plot.Plot) ([][]*plot.Plot, []float64) {
	cols = max(1, min(cols, len(panels)))
	var rows [][]*plot.Plot
	for i := 0; i < len(panels); i += cols {
		row := make([]*plot.Plot, cols, cols+1)
		copy(row, panels[i:min(i+cols, len(panels))])
		rows = append(rows, row)
	}
	widths := make([]float64, cols)
	for i := range widths {
		widths[i] = 1
	}
	if legend != nil {
		if len(rows) == 0 {
			rows = [][]*plot.Plot{nil}
		}
		for len(rows[0]) < cols {
			rows[0] = append(rows[0], nil)
		}
		rows[0] = append(rows[0], legend)
		widths = append(widths, 0.75)
	}
	return rows, widths
}

// size returns the figure size of a grid: panelW × panelH per cell.
func size(rows [][]*plot.Plot, widths []float64, panelW, panelH vg.Length) (vg.Length, vg.Length) {
	total := 0.0
	for _, w := range widths {
		total += w
	}
	return panelW * vg.Length(total), panelH*vg.Length(len(rows)) + vg.Points(30)
}

// Curves are log-probabilities over steps: X steps, Chosen and Rejected the
// mean log π of the chosen and rejected responses (NaN where unknown).
type Curves struct {
	X, Chosen, Rejected []float64
	// ChosenLo/Hi and RejectedLo/Hi, when set (same length as X), are a
	// spread drawn as a shaded band around the curves, e.g. the min–max over
	// the seeds of a group whose mean the curves are.
	ChosenLo, ChosenHi, RejectedLo, RejectedHi []float64
}

// RunDynamics is one run of the dynamics figure: training curves (the mean
// over each step's batch) and held-out curves (evaluation or probe pairs).
type RunDynamics struct {
	Name           string
	Train, HeldOut Curves
	// HeldOutSource says where the held-out curves come from, e.g. "eval
	// rows" or "probe pairs" (shown in the legend).
	HeldOutSource string
}

// Dynamics draws figure 1 (paper Figure 1): log π of the chosen and of the
// rejected responses and their difference log π_w − log π_l over steps, one
// colour per run, training solid and held-out dashed with markers.
func Dynamics(runs []RunDynamics) *Figure { return dynamics(runs, logpLabel, "") }

// DynamicsChange is Dynamics for curves that are changes since each run's
// first step (log π(t) − log π(first)): the y labels say so.
func DynamicsChange(runs []RunDynamics) *Figure {
	return dynamics(runs, "Δ log π(y|x) since the first step (nats)", ", change since the first step")
}

func dynamics(runs []RunDynamics, ylabel, titleSuffix string) *Figure {
	chosen := newPanel("chosen response", stepLabel, ylabel)
	rejected := newPanel("rejected response", stepLabel, ylabel)
	margin := newPanel("difference log π_w − log π_l", stepLabel, "log π_w − log π_l (nats)")
	var entries []LegendEntry
	sources := map[string]bool{}
	for i, r := range runs {
		train := runStyle(i, vg.Points(1.5))
		held := draw.LineStyle{Color: RunColor(i), Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(4), vg.Points(2)}}
		for _, c := range []struct {
			cv  Curves
			sty draw.LineStyle
			pts bool
		}{{r.Train, train, false}, {r.HeldOut, held, true}} {
			diff := make([]float64, len(c.cv.X))
			for k := range diff {
				diff[k] = at(c.cv.Chosen, k) - at(c.cv.Rejected, k)
			}
			for _, bb := range []struct {
				p      *plot.Plot
				lo, hi []float64
			}{{chosen, c.cv.ChosenLo, c.cv.ChosenHi}, {rejected, c.cv.RejectedLo, c.cv.RejectedHi}} {
				if len(bb.lo) == len(c.cv.X) && len(bb.hi) == len(c.cv.X) {
					if poly := bandPolygon(Band{X: c.cv.X, Lo: bb.lo, Hi: bb.hi}, withAlpha(RunColor(i), 45)); poly != nil {
						bb.p.Add(poly)
					}
				}
			}
			for _, pv := range []struct {
				p *plot.Plot
				y []float64
			}{{chosen, c.cv.Chosen}, {rejected, c.cv.Rejected}, {margin, diff}} {
				if len(pv.y) != len(c.cv.X) {
					continue
				}
				addLine(pv.p, c.cv.X, pv.y, c.sty)
				if c.pts {
					addPoints(pv.p, c.cv.X, pv.y, RunColor(i))
				}
			}
		}
		entries = append(entries, LegendEntry{r.Name, lineThumb{train}})
		if r.HeldOutSource != "" && len(r.HeldOut.X) > 0 {
			sources[r.HeldOutSource] = true
		}
	}
	grey := color.RGBA{90, 90, 90, 255}
	entries = append(entries, LegendEntry{"train (batch mean)", lineThumb{draw.LineStyle{Color: grey, Width: vg.Points(1.5)}}})
	held := "held-out"
	for s := range sources {
		if len(sources) == 1 {
			held += " (" + s + ")"
		}
	}
	entries = append(entries, LegendEntry{held, lineThumb{draw.LineStyle{Color: grey, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(4), vg.Points(2)}}}})
	rows, widths := grid([]*plot.Plot{chosen, rejected, margin}, 3, legendPanel("runs", entries))
	f := &Figure{Title: "Training dynamics: chosen and rejected log-probabilities" + titleSuffix, Panels: rows, ColWidths: widths}
	f.Width, f.Height = size(rows, widths, 4.2*vg.Inch, 4.2*vg.Inch)
	return f
}

func at(v []float64, i int) float64 {
	if i < len(v) {
		return v[i]
	}
	return math.NaN()
}

// addPoints marks the finite points of a short series (held-out evaluations)
// with small discs; long series are left as lines.
func addPoints(p *plot.Plot, x, y []float64, col color.Color) {
	if len(x) > 200 {
		return
	}
	var xs, ys []float64
	var cs []color.Color
	for i := range x {
		if finite(x[i]) && finite(y[i]) {
			xs, ys, cs = append(xs, x[i]), append(ys, y[i]), append(cs, col)
		}
	}
	if len(xs) > 0 {
		p.Add(NewScatter(xs, ys, cs, vg.Points(2)))
	}
}

// RunEntangle is one run of the entanglement figure: per-step quantile bands
// of cos(g_w, g_l) and of ⟨g_w, g_l⟩ over the step's pairs.
type RunEntangle struct {
	Name     string
	Cos, Dot Band
	// Spread names the shaded band in the legend ("" : "q25–q75 over
	// pairs"); the first run's is used.
	Spread string
}

// Entanglement draws figure 2 (paper Figures 3, 4a): the median over pairs
// of cos(g_w, g_l) and of ⟨g_w, g_l⟩ per step with the q25–q75 band, one line
// per run.
func Entanglement(runs []RunEntangle) *Figure {
	cosP := newPanel("cos(g_w, g_l): median and q25–q75", stepLabel, "cos(g_w, g_l) "+ratioLabel)
	dotP := newPanel("<g_w, g_l>: median and q25–q75", stepLabel, "<g_w, g_l> (nats² per unit parameter²)")
	var entries []LegendEntry
	for i, r := range runs {
		for _, pb := range []struct {
			p *plot.Plot
			b Band
		}{{cosP, r.Cos}, {dotP, r.Dot}} {
			b := ThinBand(pb.b, MaxLinePoints)
			if poly := bandPolygon(b, withAlpha(RunColor(i), 55)); poly != nil {
				pb.p.Add(poly)
			}
			addLine(pb.p, b.X, b.Mid, runStyle(i, vg.Points(1.5)))
		}
		entries = append(entries, LegendEntry{r.Name, lineThumb{runStyle(i, vg.Points(1.5))}})
	}
	zero := draw.LineStyle{Color: color.Gray{150}, Width: vg.Points(0.6)}
	for _, p := range []*plot.Plot{cosP, dotP} {
		z := plotter.NewFunction(func(float64) float64 { return 0 })
		z.LineStyle = zero
		p.Add(z)
	}
	spread := "q25–q75 over pairs"
	if len(runs) > 0 && runs[0].Spread != "" {
		spread = runs[0].Spread
	}
	entries = append(entries, LegendEntry{"shaded: " + spread, boxThumb{color.Gray{210}}})
	rows, widths := grid([]*plot.Plot{cosP, dotP}, 2, legendPanel("runs", entries))
	f := &Figure{Title: "Gradient entanglement over training", Panels: rows, ColWidths: widths}
	f.Width, f.Height = size(rows, widths, 5*vg.Inch, 4.5*vg.Inch)
	return f
}

// bandPolygon returns the filled polygon between b.Lo and b.Hi, or nil.
func bandPolygon(b Band, col color.Color) *plotter.Polygon {
	var xys plotter.XYs
	for i := range b.X {
		if finite(b.X[i]) && finite(b.Lo[i]) && finite(b.Hi[i]) {
			xys = append(xys, plotter.XY{X: b.X[i], Y: b.Lo[i]})
		}
	}
	for i := len(b.X) - 1; i >= 0; i-- {
		if finite(b.X[i]) && finite(b.Lo[i]) && finite(b.Hi[i]) {
			xys = append(xys, plotter.XY{X: b.X[i], Y: b.Hi[i]})
		}
	}
	if len(xys) < 4 {
		return nil
	}
	poly, err := plotter.NewPolygon(xys)
	if err != nil {
		panic("plotting: " + err.Error())
	}
	poly.Color = col
	poly.LineStyle.Width = 0
	return poly
}

// CaseColors are the colours of the cases 0 (undefined) to 4 (inverted) for
// points; the shaded regions use lighter tints of 1–3.
var CaseColors = [entangle.NumCases]color.RGBA{
	{150, 150, 150, 255}, // undefined
	{0, 150, 90, 255},    // 1 ideal: green
	{0, 100, 200, 255},   // 2 both fall: blue
	{210, 60, 40, 255},   // 3 both rise: red
	{140, 50, 160, 255},  // 4 inverted: purple
}

// caseTint is the light region colour of case c.
func caseTint(c int) color.Color { return withAlpha(CaseColors[c], 40) }

// PlaneData is one panel of the condition plane: a point per pair at
// (ChosenRatio, RejectedRatio) coloured by Case. CaseSource names where the
// cases come from: "observed" (probe pairs: signs of log π after − before) or
// "predicted" (first-order, from the loss weights).
type PlaneData struct {
	Name       string
	X, Y       []float64
	Case       []entangle.Case
	CaseSource string
}

// ConditionPlane draws figure 3: one panel per run with the case regions of
// the plane shaded (package doc), the infeasible regions in grey, and each
// pair a dot coloured by its case. Both axes show the same robust range
// (ViewRange, at least [−0.25, 2]); points outside are drawn on its edge and
// counted in the panel title.
func ConditionPlane(runs []PlaneData) *Figure {
	var panels []*plot.Plot
	sources := map[string]bool{}
	for _, r := range runs {
		if len(r.X) != len(r.Y) || len(r.X) != len(r.Case) {
			panic("plotting: ConditionPlane: lengths differ")
		}
		all := append(append([]float64(nil), r.X...), r.Y...)
		lo, hi := ViewRange(all, -0.25, 2)
		xs, ys, clipped := Clamp(r.X, r.Y, lo, hi)
		title := fmt.Sprintf("%s: %d pairs", r.Name, len(r.X))
		if clipped > 0 {
			title += fmt.Sprintf(" (%d outside, on the edge)", clipped)
		}
		p := newPanel(title, "chosen ratio <g_w,g_l>/||g_w||² "+ratioLabel, "rejected ratio <g_w,g_l>/||g_l||² "+ratioLabel)
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = lo, hi, lo, hi
		for _, poly := range planeRegions(lo, hi) {
			p.Add(poly)
		}
		cols := make([]color.Color, len(xs))
		for i, c := range r.Case {
			cols[i] = withAlpha(CaseColors[caseIndex(c)], 170)
		}
		p.Add(NewScatter(xs, ys, cols, vg.Points(2.2)))
		if r.CaseSource != "" {
			sources[r.CaseSource] = true
		}
		panels = append(panels, p)
	}
	src := "case"
	if len(sources) == 1 {
		for s := range sources {
			src = s + " case"
		}
	}
	entries := []LegendEntry{
		{"region 1: ideal (x ≤ 1, y ≤ 1)", boxThumb{caseTint(1)}},
		{"region 2: both fall (x > 1)", boxThumb{caseTint(2)}},
		{"region 3: both rise (y > 1)", boxThumb{caseTint(3)}},
		{"infeasible (cos² > 1 or sign)", boxThumb{color.Gray{200}}},
	}
	for c := 1; c < entangle.NumCases; c++ {
		entries = append(entries, LegendEntry{fmt.Sprintf("%s %d (%s)", src, c, entangle.Case(c)), dotThumb{CaseColors[c]}})
	}
	entries = append(entries, LegendEntry{src + " undefined", dotThumb{CaseColors[0]}})
	rows, widths := grid(panels, 3, legendPanel("legend", entries))
	f := &Figure{Title: "Condition plane: chosen ratio vs rejected ratio (paper §3.1.1)", Panels: rows, ColWidths: widths}
	f.Width, f.Height = size(rows, widths, 4.5*vg.Inch, 4.5*vg.Inch)
	return f
}

func caseIndex(c entangle.Case) int {
	if c < 0 || int(c) >= entangle.NumCases {
		return 0
	}
	return int(c)
}

// Clamp returns copies of x, y with finite values clamped into [lo, hi] and
// the number of points moved. NaN values stay NaN (and are not drawn).
func Clamp(x, y []float64, lo, hi float64) (cx, cy []float64, moved int) {
	cx, cy = make([]float64, len(x)), make([]float64, len(y))
	for i := range x {
		a, b := x[i], y[i]
		ca, cb := math.Max(lo, math.Min(hi, a)), math.Max(lo, math.Min(hi, b))
		if (!math.IsNaN(a) && ca != a) || (!math.IsNaN(b) && cb != b) {
			moved++
		}
		cx[i], cy[i] = ca, cb
	}
	return cx, cy, moved
}

// planeRegions returns the shaded regions of the plane within [lo, hi]²:
// the three cases, then the infeasible quadrants and the regions x·y > 1.
func planeRegions(lo, hi float64) []*plotter.Polygon {
	rect := func(x0, x1, y0, y1 float64, col color.Color) *plotter.Polygon {
		return polygon(col, plotter.XYs{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	}
	grey := color.NRGBA{R: 120, G: 120, B: 120, A: 70}
	one := math.Min(1, hi)
	ps := []*plotter.Polygon{
		rect(lo, one, lo, one, caseTint(1)),
		rect(one, hi, lo, one, caseTint(2)),
		rect(lo, one, one, hi, caseTint(3)),
	}
	if lo < 0 && hi > 0 {
		ps = append(ps, rect(lo, 0, 0, hi, grey), rect(0, hi, lo, 0, grey))
	}
	// x·y > 1 in the first quadrant: above y = 1/x, for x from 1/hi to hi.
	if hi*hi > 1 {
		var xys plotter.XYs
		for k := 0; k <= 64; k++ {
			x := 1/hi + (hi-1/hi)*float64(k)/64
			xys = append(xys, plotter.XY{X: x, Y: 1 / x})
		}
		xys = append(xys, plotter.XY{X: hi, Y: hi})
		ps = append(ps, polygon(grey, xys))
	}
	// x·y > 1 in the third quadrant: below y = 1/x, for x from lo to 1/lo.
	if lo*lo > 1 {
		var xys plotter.XYs
		for k := 0; k <= 64; k++ {
			x := lo + (1/lo-lo)*float64(k)/64
			xys = append(xys, plotter.XY{X: x, Y: 1 / x})
		}
		xys = append(xys, plotter.XY{X: lo, Y: lo})
		ps = append(ps, polygon(grey, xys))
	}
	return ps
}

func polygon(col color.Color, xys plotter.XYs) *plotter.Polygon {
	p, err := plotter.NewPolygon(xys)
	if err != nil {
		panic("plotting: " + err.Error())
	}
	p.Color = col
	p.LineStyle.Width = 0
	return p
}

// RunCases is one run of the case-fraction figure: per step the fractions
// of pairs in case 1, 2, 3 and other (CaseFractions).
type RunCases struct {
	Name string
	X    []float64
	Frac [][4]float64
}

// CaseFractionsFigure draws figure 4: one panel per run with the stacked
// fractions of pairs in each case over steps (strided to MaxLinePoints
// steps); source says how the cases were obtained (shown in the title).
func CaseFractionsFigure(runs []RunCases, source string) *Figure {
	var panels []*plot.Plot
	for _, r := range runs {
		if len(r.X) != len(r.Frac) {
			panic("plotting: CaseFractionsFigure: lengths differ")
		}
		p := newPanel(r.Name, stepLabel, "fraction of pairs (0–1)")
		p.Y.Min, p.Y.Max = 0, 1
		idx := StrideIndex(len(r.X), MaxLinePoints)
		layers := make([][]float64, 4)
		xs := make([]float64, len(idx))
		for j, i := range idx {
			xs[j] = r.X[i]
			for k := range layers {
				layers[k] = append(layers[k], r.Frac[i][k])
			}
		}
		cum := Stack(layers)
		for k := range cum {
			var xys plotter.XYs
			for j := range xs {
				xys = append(xys, plotter.XY{X: xs[j], Y: cum[k][j]})
			}
			for j := len(xs) - 1; j >= 0; j-- {
				low := 0.0
				if k > 0 {
					low = cum[k-1][j]
				}
				xys = append(xys, plotter.XY{X: xs[j], Y: low})
			}
			if len(xs) > 0 {
				p.Add(polygon(stackColor(k), xys))
			}
		}
		panels = append(panels, p)
	}
	var entries []LegendEntry
	for k, l := range CaseLabels {
		entries = append(entries, LegendEntry{l, boxThumb{stackColor(k)}})
	}
	title := "Fraction of pairs per case"
	if source != "" {
		title += " (" + source + ")"
	}
	rows, widths := grid(panels, 2, legendPanel("cases", entries))
	f := &Figure{Title: title, Panels: rows, ColWidths: widths}
	f.Width, f.Height = size(rows, widths, 5*vg.Inch, 3.6*vg.Inch)
	return f
}

func stackColor(k int) color.Color {
	if k < 3 {
		return withAlpha(CaseColors[k+1], 200)
	}
	return withAlpha(CaseColors[0], 200)
}

// StrideIndex returns the indices 0, k, 2k, … of n points with k =
// ⌈n/maxPoints⌉, plus n−1: at most maxPoints+1 indices, all of them when
// n ≤ maxPoints.
func StrideIndex(n, maxPoints int) []int {
	k := max(1, (n+maxPoints-1)/maxPoints)
	var idx []int
	for i := 0; i < n; i += k {
		idx = append(idx, i)
	}
	if n > 0 && idx[len(idx)-1] != n-1 {
		idx = append(idx, n-1)
	}
	return idx
}

// RunGroups is one run of the parameter-group figure: per bucket (Labels,
// see GroupBuckets) and step, the shares of Σ⟨g_w,g_l⟩, Σ‖g_w‖², Σ‖g_l‖²
// (Shares; indexed [bucket][step]).
type RunGroups struct {
	Name        string
	X           []float64
	Labels      []string
	Dot, WW, LL [][]float64
}

// GroupShares draws figure 5: for each run a row of three panels, the share
// of ⟨g_w,g_l⟩, of ‖g_w‖² and of ‖g_l‖² carried by each parameter group over
// steps (sums over the step's pairs). Colours follow the label order of the
// first run.
func GroupShares(runs []RunGroups) *Figure {
	colorOf := map[string]int{}
	var entries []LegendEntry
	var rows [][]*plot.Plot
	for _, r := range runs {
		var row []*plot.Plot
		for _, q := range []struct {
			name string
			v    [][]float64
		}{{"<g_w, g_l>", r.Dot}, {"||g_w||²", r.WW}, {"||g_l||²", r.LL}} {
			p := newPanel(r.Name+": share of "+q.name, stepLabel, "share of the total (1 = all)")
			for b, lab := range r.Labels {
				i, ok := colorOf[lab]
				if !ok {
					i = len(colorOf)
					colorOf[lab] = i
					entries = append(entries, LegendEntry{lab, lineThumb{runStyle(i, vg.Points(1.5))}})
				}
				if b < len(q.v) {
					addLine(p, r.X, q.v[b], runStyle(i, vg.Points(1.5)))
				}
			}
			row = append(row, p)
		}
		rows = append(rows, row)
	}
	widths := []float64{1, 1, 1}
	if len(rows) == 0 {
		rows = [][]*plot.Plot{nil}
	}
	for len(rows[0]) < 3 {
		rows[0] = append(rows[0], nil)
	}
	rows[0] = append(rows[0], legendPanel("parameter groups", entries))
	widths = append(widths, 0.75)
	f := &Figure{Title: "Share of the gradient inner product and norms per parameter group", Panels: rows, ColWidths: widths}
	f.Width, f.Height = size(rows, widths, 4.2*vg.Inch, 3.6*vg.Inch)
	return f
}

// RunFirstOrder is one run of the first-order check: for each probe row the
// predicted changes ⟨g_w,Δθ⟩, ⟨g_l,Δθ⟩ and the observed changes of log π_w,
// log π_l over the step.
type RunFirstOrder struct {
	Name                     string
	PredW, ObsW, PredL, ObsL []float64
}

var diagStyle = draw.LineStyle{Color: color.Black, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}

// FirstOrder draws figure 7: one panel per run, predicted against observed
// change of log π_w (chosen) and log π_l (rejected), with the line y = x.
// Both axes share one range so that y = x is the diagonal.
func FirstOrder(runs []RunFirstOrder) *Figure {
	cw, cl := withAlpha(Colors[0], 190), withAlpha(Colors[1], 190)
	var panels []*plot.Plot
	for _, r := range runs {
		p := newPanel(fmt.Sprintf("%s: %d probe rows", r.Name, len(r.PredW)),
			"predicted <g, Δθ> (nats)", "observed Δlog π (nats)")
		var xs, ys []float64
		var cs []color.Color
		for i := range r.PredW {
			xs, ys, cs = append(xs, r.PredW[i]), append(ys, at(r.ObsW, i)), append(cs, cw)
		}
		for i := range r.PredL {
			xs, ys, cs = append(xs, r.PredL[i]), append(ys, at(r.ObsL, i)), append(cs, cl)
		}
		all := sortedFinite(append(append([]float64(nil), xs...), ys...))
		lo, hi := -1e-9, 1e-9
		if len(all) > 0 {
			lo, hi = math.Min(lo, all[0]), math.Max(hi, all[len(all)-1])
		}
		pad := 0.05 * (hi - lo)
		lo, hi = lo-pad, hi+pad
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = lo, hi, lo, hi
		diag := plotter.NewFunction(func(x float64) float64 { return x })
		diag.LineStyle = diagStyle
		p.Add(diag, NewScatter(xs, ys, cs, vg.Points(2.5)))
		panels = append(panels, p)
	}
	entries := []LegendEntry{
		{"chosen: <g_w,Δθ> vs Δlog π_w", dotThumb{cw}},
		{"rejected: <g_l,Δθ> vs Δlog π_l", dotThumb{cl}},
		{"y = x (exact first order)", lineThumb{diagStyle}},
	}
	rows, widths := grid(panels, 3, legendPanel("legend", entries))
	f := &Figure{Title: "First-order check: predicted vs observed change of the log-probabilities", Panels: rows, ColWidths: widths}
	f.Width, f.Height = size(rows, widths, 4.2*vg.Inch, 4.2*vg.Inch)
	return f
}
