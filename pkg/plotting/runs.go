package plotting

import (
	"entangle/pkg/gradstat"
	"entangle/pkg/runfmt"
)

// pairPoint is what the figures need of one pairs.arrows row: the row's
// log-probs and first-order quantities and gradstat's statistics of it.
type pairPoint struct {
	step           int64
	probe          bool
	logpW, logpL   float64
	cos, dot       float64
	chosenRatio    float64
	rejectedRatio  float64
	lossCase       int8    // entangle.Case with the coefficients applied
	afterW, afterL float64 // probe rows
	predW, predL   float64 // probe rows
}

// tokenMat is the chosen × rejected per-token cosine matrix of one probe
// pair at one dump step.
type tokenMat struct {
	step int64
	gradstat.TokenMatrix
}

// Run is what the figures need of one run, read by gradstat's engine
// (Reader): gradstat's headline statistics of it, small per-step data and
// one compact record per pair row, never gradient vectors.
type Run struct {
	Name      string // the run label (runfmt.Resolve)
	Source    string // the path it was read from
	Stats     *gradstat.RunStats
	Truncated string // why the run ends early, if it does

	steps []runfmt.StepRow
	pairs []pairPoint

	groupNames                 []string
	groupX                     []float64
	groupDot, groupWW, groupLL [][]float64 // [step][group] sums over train pairs
	tokens                     []tokenMat
	tokPair                    int64 // the pair of the token heatmaps, −1 until seen
}

// labelled reports whether the run's name is a sweep label (key=value
// parts) rather than a path.
func (r *Run) labelled() bool { return r.Name != "" && runfmt.PathLabel(r.Name) == r.Name }

// Reader collects the Runs that gradstat's engine reads: give Options to
// gradstat.NewEngine and feed it the runs (gradstat.Process).
type Reader struct {
	Runs []*Run
	// TokenPair is the pair of the token heatmaps; −1 is the first pair
	// with per-token rows in each run (every later dump step of the run
	// uses the same pair).
	TokenPair int64
	headlines *gradstat.RunCollector
	cur       *Run
}

// NewReader returns a reader of the token heatmaps of pair tokenPair (−1:
// each run's first).
func NewReader(tokenPair int64) *Reader {
	return &Reader{TokenPair: tokenPair, headlines: gradstat.NewRunCollector()}
}

// Options returns the engine options that feed the reader (and gradstat's
// RunCollector, the runs' headline statistics), with warn and at most
// maxWarnings warning lines per run.
func (l *Reader) Options(warn func(string), maxWarnings int) gradstat.Options {
	return gradstat.Options{
		Collectors: []gradstat.Collector{l, l.headlines},
		Tokens:     true, TokenPair: l.wantTokens,
		Warn: warn, MaxWarnings: maxWarnings,
	}
}

// BeginRun starts the data of a run.
func (l *Reader) BeginRun(r *gradstat.Run) {
	l.cur = &Run{Name: r.Label, Source: r.Source, tokPair: -1}
	for _, g := range r.Groups {
		l.cur.groupNames = append(l.cur.groupNames, g.Name)
	}
	l.Runs = append(l.Runs, l.cur)
}

// EndRun links the run to its headline statistics (the RunCollector reads
// the same runs in the same order).
func (l *Reader) EndRun(int) error {
	l.cur.Stats = l.headlines.Runs[len(l.Runs)-1]
	return nil
}

// Step keeps the step's rows of steps.arrows, a pairPoint per pair row, the
// per-group sums of the training rows and the token matrices.
func (l *Reader) Step(v *gradstat.StepView) {
	r := l.cur
	r.steps = append(r.steps, v.Steps...)
	for i := range v.Pairs {
		p, s := &v.Pairs[i], &v.Stats[i]
		r.pairs = append(r.pairs, pairPoint{
			step: p.Step, probe: p.Kind == "probe", logpW: p.LogpW, logpL: p.LogpL,
			cos: s.Cos, dot: s.Dot, chosenRatio: s.ChosenRatio, rejectedRatio: s.RejectedRatio, lossCase: int8(s.LossCase),
			afterW: p.LogpWAfter, afterL: p.LogpLAfter, predW: p.PredW, predL: p.PredL,
		})
	}
	if len(r.groupNames) > 0 {
		if n, dot, ww, ll := gradstat.GroupSums(v.Pairs, "train", len(r.groupNames)); n > 0 {
			r.groupX = append(r.groupX, float64(v.Step))
			r.groupDot, r.groupWW, r.groupLL = append(r.groupDot, dot), append(r.groupWW, ww), append(r.groupLL, ll)
		}
	}
	for _, m := range v.Tokens {
		r.tokens = append(r.tokens, tokenMat{step: v.Step, TokenMatrix: m})
	}
}

// wantTokens selects the pair of the token heatmaps.
func (l *Reader) wantTokens(kind string, pair int64) bool {
	if l.TokenPair >= 0 {
		return pair == l.TokenPair
	}
	if l.cur.tokPair < 0 {
		l.cur.tokPair = pair
	}
	return pair == l.cur.tokPair
}
