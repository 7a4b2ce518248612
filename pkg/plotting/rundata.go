package plotting

import (
	"fmt"
	"math"

	"entangle/pkg/entangle"
)

// Select is what the figures of runs show (plot's flags).
type Select struct {
	Step     int64  // heatmap dump step, condition-plane step; −1 = the default
	Kind     string // condition-plane rows: "train", "probe" or "" (train when present)
	By       string // label keys grouping runs in the series figures (DefaultBy: all but seed)
	Relative bool   // dynamics curves as changes since each run's first step
}

// maxPlanePoints bounds the points of one condition-plane panel: more are
// strided (StrideIndex), which keeps every step represented.
const maxPlanePoints = 20000

// stepMeans averages f over consecutive rows of the same step among the
// rows keep accepts: X the steps, Y the means.
func stepMeans(ps []pairPoint, keep func(*pairPoint) bool, f func(*pairPoint) float64) (x, y []float64) {
	for i := 0; i < len(ps); {
		j := i
		sum, n := 0.0, 0
		for ; j < len(ps) && ps[j].step == ps[i].step; j++ {
			if keep(&ps[j]) {
				sum += f(&ps[j])
				n++
			}
		}
		if n > 0 {
			x, y = append(x, float64(ps[i].step)), append(y, sum/float64(n))
		}
		i = j
	}
	return x, y
}

func isTrain(p *pairPoint) bool  { return !p.probe }
func isProbe(p *pairPoint) bool  { return p.probe }
func logpW(p *pairPoint) float64 { return p.logpW }
func logpL(p *pairPoint) float64 { return p.logpL }

func (r *Run) has(keep func(*pairPoint) bool) bool {
	for i := range r.pairs {
		if keep(&r.pairs[i]) {
			return true
		}
	}
	return false
}

// stepCurves returns the steps rows of kind as curves of logp_chosen and
// logp_rejected (nil when none is finite).
func (r *Run) stepCurves(kind string) (Curves, bool) {
	var c Curves
	ok := false
	for _, s := range r.steps {
		if s.Kind != kind {
			continue
		}
		c.X, c.Chosen, c.Rejected = append(c.X, float64(s.Step)), append(c.Chosen, s.LogpChosen), append(c.Rejected, s.LogpRejected)
		ok = ok || !math.IsNaN(s.LogpChosen)
	}
	return c, ok
}

// DynamicsOf builds figure 1: training curves from the pairs rows' means
// (else the steps stream's train rows), held-out curves from the steps
// stream's eval rows (else the probe rows' means).
//
// With relative, every curve becomes its change since its own first finite
// value (per run and per kind, before any averaging over a group).
func DynamicsOf(runs []*Run, relative bool) ([]RunDynamics, error) {
	var out []RunDynamics
	for _, r := range runs {
		d := RunDynamics{Name: r.Name}
		if r.has(isTrain) {
			d.Train.X, d.Train.Chosen = stepMeans(r.pairs, isTrain, logpW)
			_, d.Train.Rejected = stepMeans(r.pairs, isTrain, logpL)
		} else if c, ok := r.stepCurves("train"); ok {
			d.Train = c
		}
		if c, ok := r.stepCurves("eval"); ok {
			d.HeldOut, d.HeldOutSource = c, "eval rows"
		} else if r.has(isProbe) {
			d.HeldOut.X, d.HeldOut.Chosen = stepMeans(r.pairs, isProbe, logpW)
			_, d.HeldOut.Rejected = stepMeans(r.pairs, isProbe, logpL)
			d.HeldOutSource = "probe pairs"
		}
		if relative {
			for _, c := range []*Curves{&d.Train, &d.HeldOut} {
				sinceFirst(c.Chosen)
				sinceFirst(c.Rejected)
			}
		}
		if len(d.Train.X) > 0 || len(d.HeldOut.X) > 0 {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dynamics needs logp_chosen/logp_rejected (steps.arrows) or logp_w/logp_l (pairs.arrows) of a preference run (train -mode pref -out DIR writes them)")
	}
	return out, nil
}

// EntanglementOf builds figure 2 from the training pair rows (probe rows when
// a run has none): per step the q25/median/q75 of cos and of ⟨g_w,g_l⟩.
func EntanglementOf(runs []*Run) ([]RunEntangle, error) {
	var out []RunEntangle
	for _, r := range runs {
		keep := isTrain
		if !r.has(keep) {
			keep = isProbe
		}
		var x []float64
		var cosS, dotS [][]float64
		for i := 0; i < len(r.pairs); {
			j := i
			var cs, ds []float64
			for ; j < len(r.pairs) && r.pairs[j].step == r.pairs[i].step; j++ {
				if p := &r.pairs[j]; keep(p) {
					cs, ds = append(cs, p.cos), append(ds, p.dot)
				}
			}
			if len(cs) > 0 {
				x, cosS, dotS = append(x, float64(r.pairs[i].step)), append(cosS, cs), append(dotS, ds)
			}
			i = j
		}
		if len(x) > 0 {
			out = append(out, RunEntangle{Name: r.Name, Cos: QuantileBand("cos", x, cosS), Dot: QuantileBand("dot", x, dotS)})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("entanglement needs dot, ww, ll (pairs.arrows of a preference run; train -mode pref -out DIR writes it)")
	}
	return out, nil
}

// pairCase is the case of a pair row: observed (signs of log π after −
// before) for probe rows, predicted (first order, the coefficients applied:
// gradstat's loss_case) for training rows.
func pairCase(p *pairPoint) entangle.Case {
	if p.probe && !math.IsNaN(p.afterW) && !math.IsNaN(p.afterL) {
		return entangle.CaseOf(p.afterW-p.logpW, p.afterL-p.logpL)
	}
	return entangle.Case(p.lossCase)
}

// PlaneOf builds figure 3: the rows of o.Kind (default: training rows when
// the run has them, else probe rows) of step o.Step (default: all steps).
func PlaneOf(runs []*Run, o Select) ([]PlaneData, error) {
	var out []PlaneData
	for _, r := range runs {
		probe := o.Kind == "probe" || (o.Kind == "" && !r.has(isTrain))
		var sel []int
		for i := range r.pairs {
			p := &r.pairs[i]
			if p.probe == probe && (o.Step < 0 || p.step == o.Step) {
				sel = append(sel, i)
			}
		}
		if len(sel) == 0 {
			continue
		}
		d := PlaneData{Name: r.Name, CaseSource: "predicted"}
		if probe {
			d.CaseSource = "observed"
		}
		for _, k := range StrideIndex(len(sel), maxPlanePoints) {
			p := &r.pairs[sel[k]]
			d.X, d.Y, d.Case = append(d.X, p.chosenRatio), append(d.Y, p.rejectedRatio), append(d.Case, pairCase(p))
		}
		if o.Step >= 0 {
			d.Name += fmt.Sprintf(", step %d", o.Step)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		what := "pair rows"
		if o.Kind != "" {
			what = o.Kind + " rows"
		}
		if o.Step >= 0 {
			what += " at step " + fmt.Sprint(o.Step)
		}
		return nil, fmt.Errorf("condition plane: no %s with dot, ww, ll in pairs.arrows (train -mode pref -out DIR writes them; probe rows need -probe N -dump-every K)", what)
	}
	return out, nil
}

// CasesOf builds figure 4: per step, the fractions of training pairs in
// each predicted case.
func CasesOf(runs []*Run) ([]RunCases, error) {
	var out []RunCases
	for _, r := range runs {
		d := RunCases{Name: r.Name}
		for i := 0; i < len(r.pairs); {
			j := i
			var cs []entangle.Case
			for ; j < len(r.pairs) && r.pairs[j].step == r.pairs[i].step; j++ {
				if p := &r.pairs[j]; !p.probe {
					cs = append(cs, entangle.Case(p.lossCase))
				}
			}
			if len(cs) > 0 {
				d.X, d.Frac = append(d.X, float64(r.pairs[i].step)), append(d.Frac, CaseFractions(cs))
			}
			i = j
		}
		if len(d.X) > 0 {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cases needs training rows with dot, ww, ll, cw, cl (pairs.arrows; train -mode pref -out DIR writes it)")
	}
	return out, nil
}

// maxGroupLines is the most parameter-group lines per panel before groups
// are aggregated (GroupBuckets).
const maxGroupLines = 10

// GroupsOf builds figure 5 from the per-step group sums of the training
// rows.
func GroupsOf(runs []*Run) ([]RunGroups, error) {
	var out []RunGroups
	for _, r := range runs {
		if len(r.groupX) == 0 {
			continue
		}
		labels, of := GroupBuckets(r.groupNames, maxGroupLines)
		d := RunGroups{Name: r.Name, X: r.groupX, Labels: labels}
		d.Dot, d.WW, d.LL = make([][]float64, len(labels)), make([][]float64, len(labels)), make([][]float64, len(labels))
		for k := range r.groupX {
			for _, q := range []struct {
				dst *[][]float64
				v   []float64
			}{{&d.Dot, r.groupDot[k]}, {&d.WW, r.groupWW[k]}, {&d.LL, r.groupLL[k]}} {
				sh := Shares(q.v, of, len(labels))
				for b := range sh {
					(*q.dst)[b] = append((*q.dst)[b], sh[b])
				}
			}
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("groups needs dot_g, ww_g, ll_g of training rows (pairs.arrows; train -mode pref -out DIR writes it)")
	}
	return out, nil
}

// HeatmapsOf builds figure 6: for each run with per-token gradients, the
// matrices of dump step o.Step, or of the first and the last dump step.
func HeatmapsOf(runs []*Run, o Select) ([]TokenMap, error) {
	var out []TokenMap
	for _, r := range runs {
		var sel []tokenMat
		for _, t := range r.tokens {
			if o.Step < 0 || t.step == o.Step {
				sel = append(sel, t)
			}
		}
		if o.Step < 0 && len(sel) > 2 {
			sel = []tokenMat{sel[0], sel[len(sel)-1]}
		}
		for _, t := range sel {
			out = append(out, TokenMap{
				Title:  fmt.Sprintf("%s: step %d, pair %d", r.Name, t.step, t.Pair),
				Chosen: t.Chosen, Rejected: t.Rejected, ChosenContrast: t.CW, RejectedContrast: t.CL, Cos: t.Cos,
			})
		}
	}
	if len(out) == 0 {
		what := ""
		if o.Step >= 0 {
			what = fmt.Sprintf(" at step %d", o.Step)
		}
		return nil, fmt.Errorf("heatmap needs per-token gradient rows%s in grads.arrows (train -grads full -token-grads N -probe N -dump-every K writes them)", what)
	}
	return out, nil
}

// FirstOrderOf builds figure 7 from the probe rows.
func FirstOrderOf(runs []*Run) ([]RunFirstOrder, error) {
	var out []RunFirstOrder
	for _, r := range runs {
		d := RunFirstOrder{Name: r.Name}
		for i := range r.pairs {
			p := &r.pairs[i]
			if !p.probe || math.IsNaN(p.predW) || math.IsNaN(p.afterW) {
				continue
			}
			d.PredW, d.ObsW = append(d.PredW, p.predW), append(d.ObsW, p.afterW-p.logpW)
			d.PredL, d.ObsL = append(d.PredL, p.predL), append(d.ObsL, p.afterL-p.logpL)
		}
		if len(d.PredW) > 0 {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("firstorder needs probe rows with pred_w, pred_l, logp_w_after, logp_l_after (pairs.arrows of train -probe N -dump-every K)")
	}
	return out, nil
}

// sinceFirst subtracts from every value of y its first finite value (NaN
// values stay NaN).
func sinceFirst(y []float64) {
	for _, v := range y {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			for i := range y {
				y[i] -= v
			}
			return
		}
	}
}

// Build builds the named figure (dynamics, entanglement, plane, cases,
// groups, heatmap or firstorder) of runs; runs that differ only in the keys
// left out of o.By are one group in the dynamics, entanglement and cases
// figures (mean line, min–max band). The error says what the runs lack and
// which tool writes it.
func Build(name string, runs []*Run, o Select) (*Figure, error) {
	if gs := groupRuns(runs, o.By); aggregated(gs) {
		switch name {
		case "dynamics":
			d, err := groupDynamics(gs, o.Relative)
			if err != nil {
				return nil, err
			}
			return dynamicsFigure(d, o.Relative), nil
		case "entanglement":
			d, err := groupEntangle(gs)
			if err != nil {
				return nil, err
			}
			return Entanglement(d), nil
		case "cases":
			d, err := groupCases(gs)
			if err != nil {
				return nil, err
			}
			return CaseFractionsFigure(d, "predicted, first order, training pairs; mean over each group's runs"), nil
		}
	}
	switch name {
	case "dynamics":
		d, err := DynamicsOf(runs, o.Relative)
		if err != nil {
			return nil, err
		}
		return dynamicsFigure(d, o.Relative), nil
	case "entanglement":
		d, err := EntanglementOf(runs)
		if err != nil {
			return nil, err
		}
		return Entanglement(d), nil
	case "plane":
		d, err := PlaneOf(runs, o)
		if err != nil {
			return nil, err
		}
		return ConditionPlane(d), nil
	case "cases":
		d, err := CasesOf(runs)
		if err != nil {
			return nil, err
		}
		return CaseFractionsFigure(d, "predicted, first order, training pairs"), nil
	case "groups":
		d, err := GroupsOf(runs)
		if err != nil {
			return nil, err
		}
		return GroupShares(d), nil
	case "heatmap":
		d, err := HeatmapsOf(runs, o)
		if err != nil {
			return nil, err
		}
		return TokenHeatmaps(d), nil
	case "firstorder":
		d, err := FirstOrderOf(runs)
		if err != nil {
			return nil, err
		}
		return FirstOrder(d), nil
	}
	panic("plotting: unknown figure " + name)
}

// dynamicsFigure draws the dynamics figure, of changes when relative.
func dynamicsFigure(d []RunDynamics, relative bool) *Figure {
	if relative {
		return DynamicsChange(d)
	}
	return Dynamics(d)
}
