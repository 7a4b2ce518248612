package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"entangle/pkg/cli"
	"entangle/pkg/entangle"
	"entangle/pkg/runfmt"
)

// streamNames are the stream files of a run directory (train -out DIR).
var streamNames = []string{"steps.arrows", "pairs.arrows", "grads.arrows"}

// pairPoint is what the figures need of one pairs.arrows row.
type pairPoint struct {
	step           int64
	probe          bool
	pair           int64
	logpW, logpL   float64
	dot, ww, ll    float64
	cw, cl         float64 // coefficients applied (dw, dl when cw is null)
	afterW, afterL float64 // probe rows
	predW, predL   float64 // probe rows
}

// tokenMat is the chosen × rejected per-token cosine matrix of one probe
// pair at one dump step.
type tokenMat struct {
	step, pair       int64
	chosen, rejected []string
	cw, cl           []bool
	cos              []float64
}

// runData is everything plot keeps of one training run: small per-step data and
// one compact record per pair row, never gradient vectors.
type runData struct {
	key     string
	name    string
	labels  string // sweep labels, "task=1t loss=dpo"
	meta    runfmt.Meta
	hasMeta bool
	sources []string

	steps []runfmt.StepRow
	pairs []pairPoint

	groupNames                   []string
	groupX                       []float64
	groupDot, groupWW, groupLL   [][]float64 // [step][group] sums over train pairs
	tokens                       []tokenMat
	hasSteps, hasPairs, hasGrads bool
	truncated                    []string
	tokPair                      int64 // the probe pair of the token heatmaps, −1 until seen
}

// loader gathers runs from the inputs.
type loader struct {
	env       *cli.Env
	runs      []*runData
	byKey     map[string]*runData
	tokenPair int64 // -pair: the probe pair of the token heatmaps; −1 = the first with token rows
}

// load reads every input: a stream file (or - for stdin), a run directory,
// or a sweep directory (every run directory below it, labelled by the
// key=value parts of its path).
func (l *loader) load(ctx context.Context, inputs []string) error {
	l.byKey = map[string]*runData{}
	for _, in := range inputs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if in == "-" {
			if err := l.loadStream(in, ""); err != nil {
				return err
			}
			continue
		}
		st, err := os.Stat(in)
		if err != nil {
			return cli.Dataf(in, "", "%v", unwrapPath(err))
		}
		if !st.IsDir() {
			if err := l.loadStream(in, ""); err != nil {
				return err
			}
			continue
		}
		dirs, err := runDirs(in)
		if err != nil {
			return err
		}
		if len(dirs) == 0 {
			return cli.Dataf(in, "", "no run found: no %s below it (train -out DIR writes them)", strings.Join(streamNames, ", "))
		}
		for _, d := range dirs {
			labels := sweepLabels(in, d)
			for _, f := range streamNames {
				p := filepath.Join(d, f)
				if _, err := os.Stat(p); err != nil {
					continue
				}
				if err := l.loadStream(p, "dir:"+filepath.Clean(d)); err != nil {
					return err
				}
			}
			if r := l.byKey["dir:"+filepath.Clean(d)]; r != nil {
				r.labels = labels
			}
		}
	}
	if len(l.runs) == 0 {
		return cli.Usagef("no runs given")
	}
	nameRuns(l.runs)
	return nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// runDirs returns dir if it is a run directory, else every run directory
// below it, sorted.
func runDirs(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return cli.Dataf(p, "", "%v", unwrapPath(err))
		}
		if !d.IsDir() {
			return nil
		}
		for _, f := range streamNames {
			if _, err := os.Stat(filepath.Join(p, f)); err == nil {
				out = append(out, p)
				return nil
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// sweepLabels returns the key=value parts of d's path below root, joined by
// spaces ("" for none).
func sweepLabels(root, d string) string {
	rel, err := filepath.Rel(root, d)
	if err != nil || rel == "." {
		return ""
	}
	var parts []string
	for _, p := range strings.Split(filepath.ToSlash(rel), "/") {
		if strings.Contains(p, "=") {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}

// loadStream reads one train output stream into the run with key (or, for
// a loose file, the run with its run_id).
func (l *loader) loadStream(path, key string) error {
	f, err := cli.OpenInput(l.env, path)
	if err != nil {
		return cli.Dataf(path, "", "%v", unwrapPath(err))
	}
	defer f.Close()
	name := cli.InputName(path)
	a, err := runfmt.OpenAny(f, name)
	if err != nil {
		return err
	}
	defer a.Release()
	if key == "" {
		key = "file:" + name
		if a.Meta.RunID != "" {
			key = "id:" + a.Meta.RunID
		}
	}
	r := l.byKey[key]
	if r == nil {
		r = &runData{key: key, tokPair: -1}
		l.byKey[key] = r
		l.runs = append(l.runs, r)
	}
	if !r.hasMeta {
		r.meta, r.hasMeta = a.Meta, true
	}
	r.sources = append(r.sources, name)
	switch {
	case a.Steps != nil:
		r.hasSteps = true
		for a.Steps.Next() {
			r.steps = append(r.steps, a.Steps.Rows()...)
		}
		err = a.Steps.Err()
	case a.Pairs != nil:
		r.hasPairs = true
		for a.Pairs.Next() {
			r.addPairs(a.Pairs.Rows(), a.Meta)
		}
		err = a.Pairs.Err()
	case a.Grads != nil:
		r.hasGrads = true
		for a.Grads.Next() {
			l.addGrads(r, a.Grads.Rows(), a.Meta)
		}
		err = a.Grads.Err()
	}
	if errors.Is(err, runfmt.ErrTruncated) {
		cli.Warnf(l.env.Stderr, l.env.Name, "%v; plotting the complete steps", err)
		r.truncated = append(r.truncated, name)
		return nil
	}
	return err
}

// addPairs keeps the scalars of a step's pair rows and the per-group sums
// of its training rows.
func (r *runData) addPairs(rows []runfmt.PairRow, meta runfmt.Meta) {
	G := len(meta.Groups)
	if r.groupNames == nil && G > 0 {
		for _, g := range meta.Groups {
			r.groupNames = append(r.groupNames, g.Name)
		}
	}
	dot, ww, ll := make([]float64, G), make([]float64, G), make([]float64, G)
	nTrain := 0
	var step int64
	for i := range rows {
		p := &rows[i]
		cw, cl := p.CW, p.CL
		if isNaN(cw) || isNaN(cl) {
			cw, cl = p.DW, p.DL
		}
		r.pairs = append(r.pairs, pairPoint{
			step: p.Step, probe: p.Kind == "probe", pair: p.Pair, logpW: p.LogpW, logpL: p.LogpL,
			dot: p.Dot, ww: p.WW, ll: p.LL, cw: cw, cl: cl,
			afterW: p.LogpWAfter, afterL: p.LogpLAfter, predW: p.PredW, predL: p.PredL,
		})
		if p.Kind != "train" || len(p.DotG) != G {
			continue
		}
		step = p.Step
		nTrain++
		for g := 0; g < G; g++ {
			dot[g] += p.DotG[g]
			ww[g] += p.WWG[g]
			ll[g] += p.LLG[g]
		}
	}
	if nTrain > 0 && G > 0 {
		r.groupX = append(r.groupX, float64(step))
		r.groupDot, r.groupWW, r.groupLL = append(r.groupDot, dot), append(r.groupWW, ww), append(r.groupLL, ll)
	}
}

// addGrads computes, for the selected probe pair, the per-token cosine
// matrix of this dump step (entangle.CosineMatrix) and keeps only it.
func (l *loader) addGrads(r *runData, rows []runfmt.GradRow, meta runfmt.Meta) {
	type side struct {
		tok  []int32
		ids  []int32
		con  []bool
		grad [][]float32
	}
	byPair := map[int64]*[2]side{}
	var order []int64
	var step int64
	for i := range rows {
		g := &rows[i]
		if g.Token < 0 || (g.Side != "chosen" && g.Side != "rejected") {
			continue
		}
		if want := l.wantPair(r); want >= 0 && g.Pair != want {
			continue
		}
		step = g.Step
		s := byPair[g.Pair]
		if s == nil {
			s = new([2]side)
			byPair[g.Pair] = s
			order = append(order, g.Pair)
		}
		k := 0
		if g.Side == "rejected" {
			k = 1
		}
		s[k].tok = append(s[k].tok, g.Token)
		s[k].ids = append(s[k].ids, g.TokenID)
		s[k].con = append(s[k].con, g.Contrastive == 1)
		s[k].grad = append(s[k].grad, g.Grad)
	}
	if len(order) == 0 {
		return
	}
	pair := order[0]
	if r.tokPair < 0 {
		r.tokPair = pair // every later dump step of the run uses the same pair
	}
	s := byPair[pair]
	if len(s[0].tok) == 0 || len(s[1].tok) == 0 {
		return
	}
	D := meta.Dim
	var mats [2][]float32
	var toks [2][]string
	var cons [2][]bool
	for k := 0; k < 2; k++ {
		idx := make([]int, len(s[k].tok))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return int(s[k].tok[a]) - int(s[k].tok[b]) })
		mats[k] = make([]float32, 0, len(idx)*D)
		for _, i := range idx {
			mats[k] = append(mats[k], s[k].grad[i]...)
			toks[k] = append(toks[k], tokenString(meta.Vocab, s[k].ids[i]))
			cons[k] = append(cons[k], s[k].con[i])
		}
	}
	nW, nL := len(toks[0]), len(toks[1])
	cos := make([]float64, nW*nL)
	entangle.CosineMatrix(cos, mats[0], mats[1], nW, nL, D)
	r.tokens = append(r.tokens, tokenMat{step: step, pair: pair, chosen: toks[0], rejected: toks[1], cw: cons[0], cl: cons[1], cos: cos})
}

// wantPair is the probe pair whose token rows are kept: -pair, else the
// first pair seen in the run, else (−1) any.
func (l *loader) wantPair(r *runData) int64 {
	if l.tokenPair >= 0 {
		return l.tokenPair
	}
	return r.tokPair
}

// tokenString returns the vocabulary string of id, or "#id" without a
// vocabulary entry.
func tokenString(vocab []string, id int32) string {
	if id >= 0 && int(id) < len(vocab) {
		return vocab[id]
	}
	return "#" + strconv.Itoa(int(id))
}

// nameRuns names every run: its sweep labels, else "loss β=… data", made
// unique with the run id.
func nameRuns(runs []*runData) {
	count := map[string]int{}
	for _, r := range runs {
		r.name = r.labels
		if r.name == "" {
			r.name = metaName(r.meta)
		}
		if r.name == "" {
			r.name = r.sources[0]
		}
		count[r.name]++
	}
	for _, r := range runs {
		if count[r.name] > 1 && r.meta.RunID != "" {
			r.name += " [" + r.meta.RunID[:min(6, len(r.meta.RunID))] + "]"
		}
	}
}

// metaName builds a run name from its metadata: the loss, β from the
// resolved train config, and the data file's base name (the task when the
// data came from prefgen).
func metaName(m runfmt.Meta) string {
	var cfg struct {
		Data string `json:"data"`
		Pref *struct {
			Loss   string             `json:"loss"`
			Params map[string]float64 `json:"params"`
		} `json:"pref"`
	}
	_ = json.Unmarshal([]byte(m.Config), &cfg) // a config that does not parse just gives a shorter name
	var parts []string
	loss := m.Loss
	if loss == "" && cfg.Pref != nil {
		loss = cfg.Pref.Loss
	}
	if loss == "" {
		loss = m.Mode
	}
	if loss != "" {
		parts = append(parts, loss)
	}
	if cfg.Pref != nil {
		if b, ok := cfg.Pref.Params["Beta"]; ok && b > 0 {
			parts = append(parts, "β="+strconv.FormatFloat(b, 'g', 4, 64))
		}
	}
	if cfg.Data != "" {
		d := filepath.Base(cfg.Data)
		parts = append(parts, strings.TrimSuffix(d, filepath.Ext(d)))
	}
	return strings.Join(parts, " ")
}

func isNaN(v float64) bool { return v != v }

// fmtStep formats a step number for titles.
func fmtStep(s int64) string { return fmt.Sprintf("step %d", s) }
