package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"entangle/pkg/cli"
	"entangle/pkg/gradstat"
	"entangle/pkg/plotting"
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

// runData is everything plot keeps of one run: gradstat's identity and
// headline statistics of it, small per-step data and one compact record
// per pair row, never gradient vectors.
type runData struct {
	name   string // the run label (runfmt.Resolve)
	source string
	stats  *gradstat.RunStats

	steps []runfmt.StepRow
	pairs []pairPoint

	groupNames                 []string
	groupX                     []float64
	groupDot, groupWW, groupLL [][]float64 // [step][group] sums over train pairs
	tokens                     []tokenMat
	tokPair                    int64 // the pair of the token heatmaps, −1 until seen
	truncated                  string
}

// labelled reports whether the run's name is a sweep label (key=value
// parts) rather than a path.
func (r *runData) labelled() bool { return runfmt.PathLabel(r.name) == r.name && r.name != "" }

// loader reads runs through gradstat's engine and keeps what the figures
// need (a gradstat.Collector).
type loader struct {
	env       *cli.Env
	runs      []*runData
	tokenPair int64 // -pair: the pair of the token heatmaps; −1 = the first with token rows
	headlines *gradstat.RunCollector
	cur       *runData
}

// load resolves every input (runfmt.Resolve: a stream file, - for stdin, a
// run directory, or a sweep directory) and reads its runs in one pass each.
func (l *loader) load(ctx context.Context, args []string) error {
	var inputs []gradstat.Input
	for _, a := range args {
		in, err := runfmt.Resolve(a)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return cli.Dataf(a, "", "%v", pe.Err)
			}
			return cli.Dataf(a, "", "no run found: no steps.arrows, pairs.arrows or grads.arrows below it (train -out DIR writes them)")
		}
		inputs = append(inputs, in...)
	}
	if len(inputs) == 0 {
		return cli.Usagef("no runs given")
	}
	l.headlines = gradstat.NewRunCollector()
	warn := func(msg string) { cli.Warnf(l.env.Stderr, l.env.Name, "%s", msg) }
	e := gradstat.NewEngine(gradstat.Options{
		Collectors: []gradstat.Collector{l, l.headlines},
		Tokens:     true, TokenPair: l.wantTokens,
		Warn: warn, MaxWarnings: 10,
	})
	open := func(p string) (io.ReadCloser, error) { return cli.OpenInput(l.env, p) }
	for _, in := range inputs {
		begun := len(l.runs)
		err := gradstat.Process(ctx, e, in, open, warn)
		if errors.Is(err, runfmt.ErrTruncated) && len(l.runs) > begun {
			warn(err.Error() + "; plotting the complete steps")
			l.cur.truncated = err.Error()
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// BeginRun starts the data of a run.
func (l *loader) BeginRun(r *gradstat.Run) {
	l.cur = &runData{name: r.Label, source: r.Source, tokPair: -1, stats: nil}
	for _, g := range r.Groups {
		l.cur.groupNames = append(l.cur.groupNames, g.Name)
	}
	l.runs = append(l.runs, l.cur)
}

// EndRun links the run to its headline statistics (the RunCollector read
// the same runs in the same order).
func (l *loader) EndRun(int) error {
	l.cur.stats = l.headlines.Runs[len(l.runs)-1]
	return nil
}

// Step keeps the step's rows of steps.arrows, a pairPoint per pair row, the
// per-group sums of the training rows and the token matrices.
func (l *loader) Step(v *gradstat.StepView) {
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

// wantTokens selects the pair of the token heatmaps: -pair, else the first
// pair with per-token rows in the run (every later dump step of the run
// uses the same pair).
func (l *loader) wantTokens(kind string, pair int64) bool {
	if l.tokenPair >= 0 {
		return pair == l.tokenPair
	}
	if l.cur.tokPair < 0 {
		l.cur.tokPair = pair
	}
	return pair == l.cur.tokPair
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// writeFigure renders fig as PNG into dir/file.
func writeFigure(dir, file string, fig *plotting.Figure) error {
	b, err := renderPNG(fig)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return cli.Dataf(p, "", "cannot write: %v", unwrapPath(err))
	}
	return nil
}
