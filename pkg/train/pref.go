package train

import (
	"errors"
	"fmt"
	"runtime"

	"entangle/pkg/loss"
	"entangle/pkg/model"
	"entangle/pkg/optim"
	"entangle/pkg/pref"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
)

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

// stepperConfig returns the pkg/pref configuration of a pref config.
func stepperConfig(pc *PrefConfig, gateLR float64) (pref.Config, error) {
	l, err := NewLoss(pc)
	if err != nil {
		return pref.Config{}, err
	}
	sparse, err := pref.ParseSparse(pc.Sparse)
	if err != nil {
		return pref.Config{}, err
	}
	base, _ := loss.New(pc.Loss, pc.Params) // the name without -nll's suffix, aliases resolved
	return pref.Config{Loss: l, KL: base.Name() == loss.KTOPair, Beta: rewardBeta(pc), Normalize: pc.Normalize,
		Sparse: sparse, SparseLambda: pc.SparseLambda, GateLR: gateLR}, nil
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

// refLogProbs returns the reference log-probs of the chosen and rejected
// responses of exs, summed over response tokens — over the contrastive tokens
// only under -sparse oracle, as the policy's. (-sparse learned uses the full
// sums: the gate is learned, the reference is fixed.)
func refLogProbs(ref *model.Model[float32], exs []prefdata.Example, sparse pref.Sparse) []pref.Pair {
	seqs := make([]model.Seq, 0, 2*len(exs))
	for i := range exs {
		seqs = append(seqs, seqOf(exs[i].Prompt, exs[i].Chosen), seqOf(exs[i].Prompt, exs[i].Rejected))
	}
	lps := ref.LogProbs(seqs)
	sum := func(lp []float32, mask []bool) float64 {
		s := 0.0
		for t, v := range lp {
			if sparse == pref.SparseOracle && !mask[t] {
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

// prefMode is -mode pref: per step one pref.Stepper.Step, its rows in
// pairs.arrows (and at dump steps grads.arrows and attrib.arrows), its
// batch statistics in the steps row.
type prefMode struct {
	r         *runner
	pc        *PrefConfig
	st        *pref.Stepper[float32]
	pairs     []pref.Pair // the training pairs with their reference log-probs
	testPairs []pref.Pair
	dump      pref.Dump // what a dump step asks (its Probes are the probe pairs)
	order     Order
	batch     []pref.Pair
	grad      []float32

	pairsOut  *stream[runfmt.PairRow]
	gradsOut  *stream[runfmt.GradRow]   // nil without -grads
	attribOut *stream[runfmt.AttribRow] // nil without -attrib

	pairRows   []runfmt.PairRow
	gradRows   []runfmt.GradRow
	attribRows []runfmt.AttribRow
	splitBuf   []float32 // -attrib-update: SplitClipped's scratch
}

// newPrefMode computes the reference log-probs of every pair, makes the
// stepper (with the checkpoint's gate on resume) and opens the streams.
func newPrefMode(r *runner) (_ *prefMode, err error) {
	cfg, pc := &r.cfg, r.cfg.Pref
	scfg, err := stepperConfig(pc, cfg.LR)
	if err != nil {
		return nil, err
	}
	p := &prefMode{r: r, pc: pc, grad: make([]float32, r.gradLen())}
	// The reference policy: -ref, else the -init checkpoint; under -lora
	// without -ref, the model with its adapters disabled.
	if r.lora != nil && pc.Ref == "" {
		r.withBase(func() {
			p.pairs = refLogProbs(r.m, r.train, scfg.Sparse)
			p.testPairs = refLogProbs(r.m, r.test, scfg.Sparse)
		})
		return p.finish(r, scfg)
	}
	refPath := pc.Ref
	if refPath == "" {
		refPath = cfg.Init
	}
	rck, err := ReadCheckpoint(refPath)
	if err != nil {
		return nil, err
	}
	if rck.Model != cfg.Model {
		return nil, fmt.Errorf("reference %s: its model config differs from the policy's", refPath)
	}
	if err := notLoRACheckpoint(refPath, rck); err != nil {
		return nil, err
	}
	ref := model.NewWith(cfg.Model, rck.Params) // adopts the weights read: no second copy
	rck = nil
	p.pairs = refLogProbs(ref, r.train, scfg.Sparse)
	p.testPairs = refLogProbs(ref, r.test, scfg.Sparse)
	ref.Close()
	ref = nil
	runtime.GC() // the reference's weights are garbage before the step's buffers are allocated
	return p.finish(r, scfg)
}

// finish makes the stepper and opens the streams, the reference log-probs
// being computed.
func (p *prefMode) finish(r *runner, scfg pref.Config) (_ *prefMode, err error) {
	cfg, pc := &r.cfg, r.cfg.Pref
	p.order = Order{N: len(p.pairs), Batch: cfg.Batch, Seed: cfg.Seed}
	probes := p.testPairs[:min(pc.Probe, len(p.testPairs))]
	if pc.Probe > len(p.testPairs) {
		r.warnf("-probe %d: the test split has only %d pairs", pc.Probe, len(p.testPairs))
	}
	p.dump = pref.Dump{Probes: probes, Attrib: pc.Attrib, Grads: pc.Grads != "", Train: pc.DumpTrain, TokenGrads: pc.TokenGrads}

	p.st = pref.NewStepper(r.m, scfg)
	switch {
	case cfg.LoRA.AdaptersOnly():
		p.st.SetLoRAOnly(r.lora)
	case r.lora != nil:
		p.st.SetLoRA(r.lora)
	}
	if r.ck != nil && r.ck.Gate != nil {
		p.st.SetGate(r.ck.Gate[:cfg.Model.C], r.ck.Gate[cfg.Model.C])
	}

	// Streams: pairs.arrows always, grads.arrows with -grads, attrib.arrows
	// with -attrib and probes. grads and attrib have a batch at dump steps only.
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	dir, upTo := r.opt.Dir, r.upTo()
	every := func(s int64) bool { return s > 0 }
	dumpStep := func(s int64) bool { return s > 0 && (s-1)%int64(pc.DumpEvery) == 0 }
	if p.pairsOut, err = openStream(dir, pairsFormat, r.meta, r.opt.PairsOut, upTo, every); err != nil {
		return nil, err
	}
	if pc.Grads != "" {
		gmeta := gradsMeta(r.meta, pc, r.gradLen())
		p.dump.Sketch = NewProjection(pc.Grads, pc.SketchSeed) // nil for full dumps
		if p.gradsOut, err = openStream(dir, gradsFormat, gmeta, nil, upTo, dumpStep); err != nil {
			return nil, err
		}
	}
	if pc.Attrib && len(probes) > 0 {
		if p.attribOut, err = openStream(dir, attribFormat, r.meta, nil, upTo, dumpStep); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// step takes preference step s+1: the batch, one Stepper.Step with the
// optimizer's update, the step's rows.
func (p *prefMode) step(s int) (runfmt.StepRow, string, error) {
	r := p.r
	p.batch = p.batch[:0]
	for _, j := range p.order.BatchOf(s) {
		p.batch = append(p.batch, p.pairs[j])
	}
	var dump *pref.Dump
	if p.pc.DumpEvery > 0 && s%p.pc.DumpEvery == 0 {
		dump = &p.dump
	}
	lr := r.sched.LR(s)
	if dump != nil && p.pc.AttribUpdate {
		if p.splitBuf == nil {
			p.splitBuf = make([]float32, len(r.m.Params))
		}
		dump.Split = func(pre, hist, g []float64) {
			optim.SplitClipped(r.splitter, pre, hist, r.m.Params, g, r.cfg.Clip, lr, p.splitBuf)
		}
	}
	var norm float64
	res, err := p.st.Step(p.grad, p.batch, dump, func(g []float32) {
		norm = r.apply(g, lr)
	})
	if err != nil {
		// The step may have applied its update (a non-finite probe after it:
		// the model is back at θ_before, the optimizer's state has moved);
		// the loop stops without a checkpoint, so the one on disk is that of
		// the last complete step (TestPrefNonFiniteProbe).
		return runfmt.StepRow{}, "", fmt.Errorf("step %d: %w (outputs up to step %d are kept; try a smaller -lr)", s+1, err, s)
	}
	if err := p.write(int64(s+1), res); err != nil {
		return runfmt.StepRow{}, "", err
	}
	b := &res.Batch
	return prefStepRow(int64(s+1), lr, norm, b),
		fmt.Sprintf("loss %.4f margin %.3f chosen %.3f rejected %.3f cos %.3f", b.Loss, b.Margin, b.LogpW, b.LogpL, b.CosMean), nil
}

// write writes a step's rows: the attribution, the pairs (training pairs,
// then probes), the gradient vectors.
func (p *prefMode) write(s int64, res *pref.StepResult) error {
	if p.attribOut != nil && len(res.Attrib) > 0 {
		p.attribRows = appendAttribRows(p.attribRows[:0], s, p.dump.Probes, res.Attrib)
		if err := p.attribOut.write(p.attribRows); err != nil {
			return err
		}
	}
	p.pairRows = appendPairRows(p.pairRows[:0], s, runfmt.KindTrain, res.Pairs)
	p.pairRows = appendPairRows(p.pairRows, s, runfmt.KindProbe, res.Probes)
	if err := p.pairsOut.write(p.pairRows); err != nil {
		return err
	}
	if p.gradsOut != nil && len(res.Grads) > 0 {
		p.gradRows = appendGradRows(p.gradRows[:0], s, res.Grads)
		if err := p.gradsOut.write(p.gradRows); err != nil {
			return err
		}
	}
	return nil
}

// eval is the eval row of step s: the held-out evaluation, with the
// preference loss of the test pairs.
func (p *prefMode) eval(s int) runfmt.StepRow {
	e := p.r.ln.evaluate(p.r.test)
	row := evalRow(s, &e)
	row.Loss = p.st.MeanLoss(p.testPairs)
	if !p.r.opt.Quiet {
		fmt.Fprintf(p.r.stderr, "eval step %d: loss %.4f logp chosen %.3f rejected %.3f pref_acc %.4f\n", s, row.Loss, e.LogpChosen, e.LogpRejected, e.PrefAcc)
	}
	return row
}

// save adds the learned gate (u then b) to a checkpoint.
func (p *prefMode) save(c *Checkpoint) {
	if p.st.Config().Sparse == pref.SparseLearned {
		u, b := p.st.Gate()
		c.Gate = append(append([]float64(nil), u...), b)
	}
}

func (p *prefMode) close() error {
	return errors.Join(p.pairsOut.close(), p.gradsOut.close(), p.attribOut.close())
}
