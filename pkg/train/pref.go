package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"entangle/pkg/cli"
	"entangle/pkg/loss"
	"entangle/pkg/model"
	"entangle/pkg/optim"
	"entangle/pkg/pref"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
)

// loop is the state run hands to the preference loop: the model and optimizer
// are set up, steps.arrows is open.
type loop struct {
	cfg        Config
	d          *prefdata.Dataset
	ck         *Checkpoint
	opt        Options
	m          *model.Model[float32]
	step       func(params, grads []float32, lr float64)
	snapshot   func(s int) *Checkpoint
	sw         *runfmt.StepWriter
	closeSteps func() error
	start      int
	train      []prefdata.Example
	test       []prefdata.Example
	ln         *lanes
	sched      optim.Schedule
	stderr     io.Writer
	evalDue    func(s int) bool
}

// NewLoss returns the loss of a pref config (with its -nll term).
func NewLoss(pc *PrefConfig) (loss.Loss, error) {
	l, err := loss.New(pc.Loss, pc.Params)
	if err != nil {
		return nil, err
	}
	if pc.NLL > 0 {
		l = loss.WithNLL(l, pc.NLL)
	}
	return l, nil
}

// refLogProbs returns the reference log-probs of the chosen and rejected
// responses of exs, summed over response tokens — over the contrastive tokens
// only under -sparse oracle, as the policy's. (-sparse learned uses the full
// sums: the gate is learned, the reference is fixed.)
func refLogProbs(ref *model.Model[float32], exs []prefdata.Example, sparse string) []pref.Pair {
	seqs := make([]model.Seq, 0, 2*len(exs))
	for i := range exs {
		seqs = append(seqs, seqOf(exs[i].Prompt, exs[i].Chosen), seqOf(exs[i].Prompt, exs[i].Rejected))
	}
	lps := ref.LogProbs(seqs)
	sum := func(lp []float32, mask []bool) float64 {
		s := 0.0
		for t, v := range lp {
			if sparse == "oracle" && !mask[t] {
				continue
			}
			s += float64(v)
		}
		return s
	}
	out := make([]pref.Pair, len(exs))
	for i := range exs {
		out[i] = pref.Pair{Ex: &exs[i], RefW: sum(lps[2*i], exs[i].ChosenContrastive), RefL: sum(lps[2*i+1], exs[i].RejectedContrastive)}
	}
	return out
}

// rewardBeta is the β of TRL's rewards β(logp − ref): the loss's β when it
// reads one, else 0 (pkg/pref then uses 1).
func rewardBeta(pc *PrefConfig) float64 {
	names, _ := loss.ParamNames(pc.Loss)
	for _, n := range names {
		if n == "Beta" {
			return pc.Params.Beta
		}
	}
	return 0
}

// runPref is the preference-optimization loop (-mode pref): per step, the
// exact per-pair gradients and statistics of pkg/pref, pairs.arrows rows, the
// steps row, and at dump steps the probe pairs (before/after the update) and
// gradient dumps.
func runPref(ctx context.Context, L *loop) (err error) {
	cfg, pc := L.cfg, L.cfg.Pref
	if pc == nil {
		return fmt.Errorf("-mode pref without pref settings")
	}
	lossFn, err := NewLoss(pc)
	if err != nil {
		return err
	}
	// The reference policy: -ref, else the -init checkpoint.
	refPath := pc.Ref
	if refPath == "" {
		refPath = cfg.Init
	}
	rck, err := ReadCheckpoint(refPath)
	if err != nil {
		return err
	}
	if rck.Model != cfg.Model {
		return fmt.Errorf("reference %s: its model config differs from the policy's", refPath)
	}
	ref := model.New[float32](cfg.Model)
	copy(ref.Params, rck.Params)
	trainPairs := refLogProbs(ref, L.train, pc.Sparse)
	testPairs := refLogProbs(ref, L.test, pc.Sparse)
	ref.Close()
	probes := testPairs[:min(pc.Probe, len(testPairs))]
	if pc.Probe > len(testPairs) {
		cli.Warnf(L.stderr, L.opt.Name, "-probe %d: the test split has only %d pairs", pc.Probe, len(testPairs))
	}

	st := pref.NewStepper(L.m, pref.Config{Loss: lossFn, Beta: rewardBeta(pc), Normalize: pc.Normalize,
		Sparse: pc.Sparse, SparseLambda: pc.SparseLambda, GateLR: cfg.LR})
	if L.ck != nil && L.ck.Gate != nil {
		st.SetGate(L.ck.Gate[:cfg.Model.C], L.ck.Gate[cfg.Model.C])
	}
	snapshot := func(s int) *Checkpoint {
		c := L.snapshot(s)
		if pc.Sparse == "learned" {
			u, b := st.Gate()
			c.Gate = append(append([]float64(nil), u...), b)
		}
		return c
	}
	sk := NewProjection(pc.Grads, pc.SketchSeed) // nil for full dumps

	// Streams: pairs.arrows always, grads.arrows when dumps are asked.
	meta, err := streamMeta(&cfg, L.d)
	if err != nil {
		return err
	}
	upTo := int64(L.start)
	resume := L.ck != nil
	pf, err := reopen(L.opt.Dir, PairsFile, resume)
	if err != nil {
		return err
	}
	var pairsOut io.Writer = pf
	if L.opt.PairsOut != nil {
		pairsOut = tee{pf, L.opt.PairsOut}
	}
	pw, err := runfmt.NewPairWriter(pairsOut, meta)
	if err != nil {
		pf.Close()
		return err
	}
	var gf *os.File
	var gw *runfmt.GradWriter
	if pc.Grads != "" {
		gmeta := gradsMeta(meta, pc, len(L.m.Params))
		if gf, err = reopen(L.opt.Dir, GradsFile, resume); err != nil {
			return err
		}
		if gw, err = runfmt.NewGradWriter(gf, gmeta); err != nil {
			gf.Close()
			return err
		}
	}
	var af *os.File
	var aw *runfmt.AttribWriter
	if pc.Attrib && len(probes) > 0 {
		if af, err = reopen(L.opt.Dir, AttribFile, resume); err != nil {
			return err
		}
		if aw, err = runfmt.NewAttribWriter(af, meta); err != nil {
			af.Close()
			return err
		}
	}
	if resume {
		// Rows up to the checkpoint's step were copied by reopen; writers append.
		if aw != nil {
			if err := copyAttribInto(L.opt.Dir, upTo, aw); err != nil {
				return err
			}
		}
		if err := copyInto(L.opt.Dir, PairsFile, upTo, pw, nil); err != nil {
			return err
		}
		if gw != nil {
			if err := copyInto(L.opt.Dir, GradsFile, upTo, nil, gw); err != nil {
				return err
			}
		}
	}
	closeAll := func() error {
		errs := []error{pw.Close(), pf.Close()}
		if gw != nil {
			errs = append(errs, gw.Close(), gf.Close())
		}
		if aw != nil {
			errs = append(errs, aw.Close(), af.Close())
		}
		errs = append(errs, L.closeSteps())
		return errors.Join(errs...)
	}
	closed := false
	defer func() {
		if !closed {
			closeAll()
		}
	}()

	evalRow := func(s int) StepRow {
		r := L.ln.evaluate(L.test)
		row := runfmt.NullStepRow(int64(s), "eval")
		row.Loss, row.TokenAcc = st.MeanLoss(testPairs), r.TokenAcc
		row.LogpChosen, row.LogpRejected = r.LogpChosen, r.LogpRejected
		row.LogpChosenTok, row.LogpRejectedTok = r.LogpChosenTok, r.LogpRejectedTok
		row.Margin, row.RewardsAccuracies = r.Margin, r.PrefAcc
		if !L.opt.Quiet {
			fmt.Fprintf(L.stderr, "eval step %d: loss %.4f logp chosen %.3f rejected %.3f pref_acc %.4f\n", s, row.Loss, r.LogpChosen, r.LogpRejected, r.PrefAcc)
		}
		return row
	}
	if L.start == 0 && len(L.test) > 0 {
		if err := L.sw.Write([]StepRow{evalRow(0)}); err != nil {
			return err
		}
	}

	P := len(L.m.Params)
	grad := make([]float32, P)
	before := make([]float32, P)
	delta := make([]float32, P)
	order := Order{N: len(trainPairs), Batch: cfg.Batch, Seed: cfg.Seed}
	batch := make([]pref.Pair, 0, cfg.Batch)
	var trainRows []runfmt.PairRow
	var attribRows []runfmt.AttribRow
	prog := cli.NewProgress(L.stderr, cfg.Steps, L.opt.Quiet, 0)
	for s := L.start; s < cfg.Steps; s++ {
		if ctx.Err() != nil {
			path := filepath.Join(L.opt.Dir, CheckpointFile)
			if err := WriteCheckpoint(path, snapshot(s)); err != nil {
				return err
			}
			closed = true
			if err := closeAll(); err != nil {
				return err
			}
			return fmt.Errorf("%w after step %d of %d; checkpoint written to %s (continue with -resume %s)", ErrInterrupted, s, cfg.Steps, path, L.opt.Dir)
		}
		t0 := time.Now()
		batch = batch[:0]
		for _, j := range order.BatchOf(s) {
			batch = append(batch, trainPairs[j])
		}
		dump := pc.DumpEvery > 0 && s%pc.DumpEvery == 0
		var probeRows []runfmt.PairRow
		var gradRows []runfmt.GradRow
		attrib := dump && aw != nil
		if attrib {
			// The probe gradients at the step's parameters, before Grad, which
			// then computes their dots with every training pair's.
			if probeRows, err = st.ProbeBefore(probes); err != nil {
				return fmt.Errorf("step %d: probe: %v", s+1, err)
			}
			st.SetAttribution(st.ProbeGrads())
		}
		rows, stats, gerr := st.Grad(grad, batch)
		if gerr != nil {
			return fmt.Errorf("step %d: %v (outputs up to step %d are kept; try a smaller -lr)", s+1, gerr, s)
		}
		trainRows = copyRows(trainRows[:0], rows, int64(s+1), "train")
		if attrib {
			attribRows = attribRows[:0]
			for _, a := range st.Attribution() {
				a.Step, a.Probe = int64(s+1), probes[a.Probe].Ex.ID
				attribRows = append(attribRows, a)
			}
			st.SetAttribution(nil, nil)
			if err := aw.Write(attribRows); err != nil {
				return fmt.Errorf("write %s: %w", AttribFile, err)
			}
		}
		// Probe rows are evaluated after Grad (with -sparse learned, Grad
		// moves the gate first); without the learned gate, the probe rows of
		// an attribution step's ProbeBefore are those.
		if dump && len(probes) > 0 {
			if !attrib || pc.Sparse == "learned" {
				if probeRows, err = st.ProbeBefore(probes); err != nil {
					return fmt.Errorf("step %d: probe: %v", s+1, err)
				}
			}
			if gw != nil {
				gradRows = append(gradRows, st.Dump(int64(s+1), "probe", probes, pc.TokenGrads, sk)...)
			}
		}
		if dump && gw != nil && pc.DumpTrain {
			gradRows = append(gradRows, st.Dump(int64(s+1), "train", batch, 0, sk)...)
		}
		lr := L.sched.LR(s)
		norm := optim.ClipGlobalNorm(grad, cfg.Clip)
		copy(before, L.m.Params)
		L.step(L.m.Params, grad, lr)
		if dump {
			for i := range delta {
				delta[i] = L.m.Params[i] - before[i]
			}
			if len(probes) > 0 {
				probeRows = st.ProbeAfter(delta)
				for i := range probeRows {
					probeRows[i].Step = int64(s + 1)
				}
			}
			if gw != nil {
				gradRows = append(gradRows, pref.DumpUpdate(int64(s+1), delta, sk))
			}
		}
		if err := pw.Write(append(trainRows, probeRows...)); err != nil {
			return fmt.Errorf("write %s: %w", PairsFile, err)
		}
		if gw != nil && len(gradRows) > 0 {
			if err := gw.Write(gradRows); err != nil {
				return fmt.Errorf("write %s: %w", GradsFile, err)
			}
		}
		row := runfmt.NullStepRow(int64(s+1), "train")
		row.LR, row.Loss, row.GradNorm = lr, stats.Loss, norm
		row.Margin, row.LogpChosen, row.LogpRejected = stats.Margin, stats.LogpChosen, stats.LogpRejected
		row.LogpChosenTok, row.LogpRejectedTok = stats.LogpChosenTok, stats.LogpRejectedTok
		row.RewardsChosen, row.RewardsRejected = stats.RewardsChosen, stats.RewardsRejected
		row.RewardsMargins, row.RewardsAccuracies = stats.RewardsMargins, stats.RewardsAccuracies
		row.CosMean, row.BatchDot, row.BatchWW, row.BatchLL = stats.CosMean, stats.BatchDot, stats.BatchWW, stats.BatchLL
		row.Ms = float64(time.Since(t0).Microseconds()) / 1000
		out := []StepRow{row}
		if L.evalDue(s + 1) {
			out = append(out, evalRow(s+1))
		}
		if err := L.sw.Write(out); err != nil {
			return err
		}
		prog.Update(s+1, fmt.Sprintf("loss %.4f margin %.3f chosen %.3f rejected %.3f cos %.3f %.1fms/step",
			stats.Loss, stats.Margin, stats.LogpChosen, stats.LogpRejected, stats.CosMean, row.Ms))
		if err := keepWeights(L.opt.Dir, &cfg, s+1, snapshot); err != nil {
			return err
		}
		if cfg.CkptEvery > 0 && (s+1)%cfg.CkptEvery == 0 && s+1 < cfg.Steps {
			if err := WriteCheckpoint(filepath.Join(L.opt.Dir, CheckpointFile), snapshot(s+1)); err != nil {
				return err
			}
		}
		if L.opt.AfterStep != nil {
			L.opt.AfterStep(s + 1)
		}
	}
	final := snapshot(cfg.Steps)
	if err := WriteCheckpoint(filepath.Join(L.opt.Dir, CheckpointFile), final); err != nil {
		return err
	}
	if err := WriteModel(filepath.Join(L.opt.Dir, ModelFile), final); err != nil {
		return err
	}
	closed = true
	if err := closeAll(); err != nil {
		return err
	}
	return cli.WriteFileAtomic(filepath.Join(L.opt.Dir, DoneFile), []byte(strconv.Itoa(cfg.Steps)+"\n"))
}

// copyRows appends deep copies of rows (pkg/pref's are views) with step and kind set.
func copyRows(dst, rows []runfmt.PairRow, step int64, kind string) []runfmt.PairRow {
	for _, r := range rows {
		r.Step, r.Kind = step, kind
		r.DotG = append([]float64(nil), r.DotG...)
		r.WWG = append([]float64(nil), r.WWG...)
		r.LLG = append([]float64(nil), r.LLG...)
		r.HidW = append([]float32(nil), r.HidW...)
		r.HidL = append([]float32(nil), r.HidL...)
		dst = append(dst, r)
	}
	return dst
}

// reopen creates DIR/name for a new stream. On resume the previous stream is
// first moved aside (DIR/.name.old) so copyInto can replay its rows up to the
// checkpoint's step into the new one.
func reopen(dir, name string, resume bool) (*os.File, error) {
	path := filepath.Join(dir, name)
	if resume {
		if err := os.Rename(path, filepath.Join(dir, "."+name+".old")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("resume: %w", err)
		}
	}
	return os.Create(path)
}

// copyInto replays the rows with step ≤ upTo of DIR/.name.old (a previous
// run's stream, possibly truncated by a kill) into pw or gw, then removes it.
func copyInto(dir, name string, upTo int64, pw *runfmt.PairWriter, gw *runfmt.GradWriter) error {
	old := filepath.Join(dir, "."+name+".old")
	f, err := os.Open(old)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if pw != nil {
		r, err := runfmt.NewPairReader(f, old)
		if err != nil {
			return fmt.Errorf("resume: %v", err)
		}
		defer r.Release()
		for r.Next() {
			var keep []runfmt.PairRow
			for _, row := range r.Rows() {
				if row.Step <= upTo {
					keep = append(keep, row)
				}
			}
			if len(keep) > 0 {
				if err := pw.Write(keep); err != nil {
					return err
				}
			}
		}
	} else {
		r, err := runfmt.NewGradReader(f, old)
		if err != nil {
			return fmt.Errorf("resume: %v", err)
		}
		defer r.Release()
		for r.Next() {
			var keep []runfmt.GradRow
			for _, row := range r.Rows() {
				if row.Step <= upTo {
					keep = append(keep, row)
				}
			}
			if len(keep) > 0 {
				if err := gw.Write(keep); err != nil {
					return err
				}
			}
		}
	}
	return os.Remove(old)
}

// tee writes to a run file and to a second output (train -o), and flushes the
// second after each record batch so that a consumer can follow it live.
type tee struct{ file, out io.Writer }

func (t tee) Write(p []byte) (int, error) {
	if n, err := t.file.Write(p); err != nil {
		return n, err
	}
	return t.out.Write(p)
}

// Flush flushes the second output when it buffers.
func (t tee) Flush() error {
	if f, ok := t.out.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// copyAttribInto replays the rows with step ≤ upTo of DIR/.attrib.arrows.old
// into aw (as copyInto), then removes it.
func copyAttribInto(dir string, upTo int64, aw *runfmt.AttribWriter) error {
	old := filepath.Join(dir, "."+AttribFile+".old")
	f, err := os.Open(old)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := runfmt.NewAttribReader(f, old)
	if err != nil {
		return fmt.Errorf("resume: %v", err)
	}
	defer r.Release()
	for r.Next() {
		var keep []runfmt.AttribRow
		for _, row := range r.Rows() {
			if row.Step <= upTo {
				keep = append(keep, row)
			}
		}
		if len(keep) > 0 {
			if err := aw.Write(keep); err != nil {
				return err
			}
		}
	}
	return os.Remove(old)
}
