package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"entangle/pkg/cli"
	"entangle/pkg/model"
	"entangle/pkg/optim"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
)

// Files of a run directory.
const (
	ConfigFile     = "config.json"
	StepsFile      = "steps.arrows"
	PairsFile      = "pairs.arrows"
	GradsFile      = "grads.arrows"
	AttribFile     = "attrib.arrows"
	CheckpointFile = "checkpoint.safetensors"
	ModelFile      = "model.safetensors"
	DoneFile       = "DONE"
)

// Options are the settings of a run that do not change its results.
type Options struct {
	Dir    string    // the run directory
	Force  bool      // start in a non-empty Dir, replacing a previous run's files
	Stderr io.Writer // progress lines and warnings (nil = discard)
	Quiet  bool      // no progress lines
	Name   string    // program name in warnings, e.g. "train"

	// PairsOut, when set, also receives the pairs stream of -mode pref
	// (train -o -).
	PairsOut io.Writer

	// AfterStep, when set, is called after each step's outputs (metrics row,
	// periodic checkpoint) are written, with the number of steps done. Tests
	// use it to interrupt a run at a given step.
	AfterStep func(step int)
}

// ErrInterrupted is wrapped by the error Run and Resume return when the
// context was cancelled: the checkpoint of the last complete step was written.
var ErrInterrupted = errors.New("interrupted")

// SweepLog is the log file a sweep runner (cmd/sweep) creates in a run's
// directory before starting train there; CheckDir does not count it.
const SweepLog = "sweep.log"

// CheckDir reports whether dir can hold a new run: it does not exist, is
// empty (but for a SweepLog), or force is set.
func CheckDir(dir string, force bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	n := 0
	for _, e := range ents {
		if e.Name() != SweepLog { // a sweep runner's log, written before the run starts
			n++
		}
	}
	if n > 0 && !force {
		return fmt.Errorf("-out %s is not empty (use -resume %s to continue its run, or -force to replace it)", dir, dir)
	}
	return nil
}

// Prepare resolves cfg against the dataset: the model config of an -init
// checkpoint, the data fingerprint and the number of steps; then it validates
// cfg and checks that the model can read the data.
func Prepare(cfg *Config, d *prefdata.Dataset) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := checkSources(cfg, d); err != nil {
		return err
	}
	if err := CheckFits(cfg.Model, d); err != nil {
		return err
	}
	if err := CheckMemory(cfg, d.MaxLen()); err != nil {
		return err
	}
	cfg.Data = Fingerprint(d)
	train, _, _ := splits(cfg, d)
	if len(train) == 0 {
		return fmt.Errorf("the dataset has no %s examples to train on", trainSplitName(cfg))
	}
	if cfg.Steps == 0 {
		o := Order{N: len(train), Batch: cfg.Batch}
		cfg.Steps = cfg.Epochs * o.StepsPerEpoch()
	}
	return nil
}

func trainSplitName(cfg *Config) string {
	if cfg.Mode == ModeSFT {
		return "sft (or train)"
	}
	return "train"
}

// splits returns the training and test examples of the run; fellBack is set
// when SFT had no "sft" rows and uses "train" instead.
func splits(cfg *Config, d *prefdata.Dataset) (train, test []prefdata.Example, fellBack bool) {
	test = d.Select(prefdata.SplitTest)
	if cfg.Mode == ModePref {
		return d.Select(prefdata.SplitTrain), test, false
	}
	train = d.Select(prefdata.SplitSFT)
	if len(train) == 0 {
		return d.Select(prefdata.SplitTrain), test, true
	}
	return train, test, false
}

// Run trains a new run in opt.Dir with cfg (resolved by Prepare) on d.
func Run(ctx context.Context, cfg Config, d *prefdata.Dataset, opt Options) error {
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return err
	}
	for _, f := range []string{DoneFile, ConfigFile, StepsFile, PairsFile, GradsFile, CheckpointFile, ModelFile} {
		if err := os.Remove(filepath.Join(opt.Dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return run(ctx, cfg, d, nil, opt)
}

// Resume continues the run in opt.Dir from its checkpoint, on the same data d.
// The final weights are bit-identical to those of an uninterrupted run, and
// steps.arrows is rebuilt from the rows up to the checkpoint's step.
func Resume(ctx context.Context, d *prefdata.Dataset, opt Options) error {
	path := filepath.Join(opt.Dir, CheckpointFile)
	ck, err := ReadCheckpoint(path)
	if err != nil {
		return err
	}
	if ck.Train.Mode == "" || ck.Train.Steps == 0 {
		return fmt.Errorf("checkpoint %s: no train_config: it is not a resumable checkpoint", path)
	}
	if fp := Fingerprint(d); fp != ck.Train.Data {
		return fmt.Errorf("checkpoint %s was trained on other data (fingerprint %s, this dataset's is %s)", path, ck.Train.Data, fp)
	}
	if err := CheckFits(ck.Model, d); err != nil {
		return fmt.Errorf("checkpoint %s: %v", path, err)
	}
	if err := CheckMemory(&ck.Train, d.MaxLen()); err != nil {
		return fmt.Errorf("checkpoint %s: %v", path, err)
	}
	if _, err := os.Stat(filepath.Join(opt.Dir, DoneFile)); err == nil {
		return fmt.Errorf("the run in %s is complete (%s exists); nothing to resume", opt.Dir, DoneFile)
	}
	return run(ctx, ck.Train, d, ck, opt)
}

// run is the training loop of Run and Resume (ck non-nil).
func run(ctx context.Context, cfg Config, d *prefdata.Dataset, ck *Checkpoint, opt Options) error {
	stderr := opt.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	train, test, fellBack := splits(&cfg, d)
	if fellBack {
		cli.Warnf(stderr, opt.Name, "the dataset has no sft rows; training on its %d train rows (prompt + chosen)", len(train))
	}
	if len(test) == 0 {
		cli.Warnf(stderr, opt.Name, "the dataset has no test rows; no held-out evaluation")
	}

	// Model and optimizer.
	m := model.New[float32](cfg.Model)
	defer m.Close()
	switch {
	case ck != nil:
		copy(m.Params, ck.Params)
	case cfg.Init != "":
		ick, err := ReadCheckpoint(cfg.Init)
		if err != nil {
			return err
		}
		if ick.Model != cfg.Model {
			return fmt.Errorf("checkpoint %s: its model config differs from the run's", cfg.Init)
		}
		copy(m.Params, ick.Params)
	default:
		m.Init(cfg.Seed)
	}
	P := len(m.Params)
	var step func(params, grads []float32, lr float64)
	var state func(c *Checkpoint)
	switch cfg.Optim {
	case "sgd":
		o := optim.NewSGD[float32](P, cfg.Momentum, cfg.WeightDecay)
		if ck != nil {
			o.T = ck.OptimT
			if o.M != nil && ck.M != nil {
				copy(o.M, ck.M)
			}
		}
		step = o.Step
		state = func(c *Checkpoint) { c.M, c.OptimT = o.M, o.T }
	default:
		o := optim.NewAdamW[float32](P, cfg.WeightDecay)
		if ck != nil {
			if ck.M == nil || ck.V == nil {
				return fmt.Errorf("checkpoint: AdamW moments optim.m/optim.v are missing")
			}
			copy(o.M, ck.M)
			copy(o.V, ck.V)
			o.T = ck.OptimT
		}
		step = o.Step
		state = func(c *Checkpoint) { c.M, c.V, c.OptimT = o.M, o.V, o.T }
	}
	sched := cfg.Schedule(cfg.Steps)
	if err := sched.Validate(); err != nil {
		return err
	}
	snapshot := func(s int) *Checkpoint {
		c := &Checkpoint{Model: cfg.Model, Params: m.Params, Train: cfg, Step: s, Mode: cfg.Mode}
		state(c)
		return c
	}

	// Outputs.
	meta, err := streamMeta(&cfg, d)
	if err != nil {
		return err
	}
	if ck == nil {
		js, _ := json.MarshalIndent(&cfg, "", "  ")
		if err := cli.WriteFileAtomic(filepath.Join(opt.Dir, ConfigFile), append(js, '\n')); err != nil {
			return err
		}
	}
	start := 0
	if ck != nil {
		start = ck.Step
	}
	sf, sw, err := openSteps(opt.Dir, meta, int64(start), ck != nil)
	if err != nil {
		return err
	}
	closed := false
	closeSteps := func() error {
		if closed {
			return nil
		}
		closed = true
		err := sw.Close()
		if cerr := sf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", sf.Name(), err)
		}
		return nil
	}
	defer closeSteps()

	ln := newLanes(m)
	evalRow := func(s int) StepRow {
		r := ln.evaluate(test)
		row := runfmt.NullStepRow(int64(s), "eval")
		row.Loss, row.TokenAcc = r.Loss, r.TokenAcc
		row.LogpChosen, row.LogpRejected = r.LogpChosen, r.LogpRejected
		row.LogpChosenTok, row.LogpRejectedTok = r.LogpChosenTok, r.LogpRejectedTok
		row.Margin, row.RewardsAccuracies = r.Margin, r.PrefAcc
		if !opt.Quiet {
			fmt.Fprintf(stderr, "eval step %d: loss %.4f token_acc %.4f pref_acc %.4f\n", s, r.Loss, r.TokenAcc, r.PrefAcc)
		}
		return row
	}
	evalDue := func(s int) bool {
		return len(test) > 0 && (s == cfg.Steps || (cfg.EvalEvery > 0 && s%cfg.EvalEvery == 0))
	}
	if cfg.Mode == ModePref {
		return runPref(ctx, &loop{cfg: cfg, d: d, ck: ck, opt: opt, m: m, step: step, snapshot: snapshot,
			sw: sw, closeSteps: closeSteps, start: start, train: train, test: test, ln: ln, sched: sched,
			stderr: stderr, evalDue: evalDue})
	}
	if start == 0 && len(test) > 0 {
		if err := sw.Write([]StepRow{evalRow(0)}); err != nil {
			return err
		}
	}

	order := Order{N: len(train), Batch: cfg.Batch, Seed: cfg.Seed}
	grad := make([]float32, P)
	prog := cli.NewProgress(stderr, cfg.Steps, opt.Quiet, 0)
	for s := start; s < cfg.Steps; s++ {
		if ctx.Err() != nil {
			path := filepath.Join(opt.Dir, CheckpointFile)
			if err := WriteCheckpoint(path, snapshot(s)); err != nil {
				return err
			}
			if err := closeSteps(); err != nil {
				return err
			}
			return fmt.Errorf("%w after step %d of %d; checkpoint written to %s (continue with -resume %s)", ErrInterrupted, s, cfg.Steps, path, opt.Dir)
		}
		t0 := time.Now()
		idx := order.BatchOf(s)
		seqs := make([]model.Seq, len(idx))
		for i, j := range idx {
			seqs[i] = sftSeq(&train[j])
		}
		lr := sched.LR(s)
		loss, acc := ln.sftGrad(grad, seqs)
		norm := optim.ClipGlobalNorm(grad, cfg.Clip)
		step(m.Params, grad, lr)
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("step %d: the loss is %v (try a smaller -lr)", s+1, loss)
		}
		row := runfmt.NullStepRow(int64(s+1), "train")
		row.LR, row.Loss, row.GradNorm, row.TokenAcc = lr, loss, norm, acc
		row.Ms = float64(time.Since(t0).Microseconds()) / 1000
		rows := []StepRow{row}
		if evalDue(s + 1) {
			rows = append(rows, evalRow(s+1))
		}
		if err := sw.Write(rows); err != nil {
			return fmt.Errorf("write %s: %w", sf.Name(), err)
		}
		prog.Update(s+1, fmt.Sprintf("loss %.4f lr %.3g %.1fms/step", loss, lr, row.Ms))
		if err := keepWeights(opt.Dir, &cfg, s+1, snapshot); err != nil {
			return err
		}
		if cfg.CkptEvery > 0 && (s+1)%cfg.CkptEvery == 0 && s+1 < cfg.Steps {
			if err := WriteCheckpoint(filepath.Join(opt.Dir, CheckpointFile), snapshot(s+1)); err != nil {
				return err
			}
		}
		if opt.AfterStep != nil {
			opt.AfterStep(s + 1)
		}
	}

	final := snapshot(cfg.Steps)
	if err := WriteCheckpoint(filepath.Join(opt.Dir, CheckpointFile), final); err != nil {
		return err
	}
	if err := WriteModel(filepath.Join(opt.Dir, ModelFile), final); err != nil {
		return err
	}
	if err := closeSteps(); err != nil {
		return err
	}
	return cli.WriteFileAtomic(filepath.Join(opt.Dir, DoneFile), []byte(strconv.Itoa(cfg.Steps)+"\n"))
}

// streamMeta returns the schema metadata shared by the run's streams
// (runfmt writers set format and format_version).
func streamMeta(cfg *Config, d *prefdata.Dataset) (runfmt.Meta, error) {
	mc, err := json.Marshal(cfg.Model)
	if err != nil {
		return runfmt.Meta{}, err
	}
	var gs []runfmt.Group
	for _, t := range model.Tensors(cfg.Model) {
		gs = append(gs, runfmt.Group{Name: t.Name, Offset: t.Offset, Size: t.Size})
	}
	lossName := ""
	if cfg.Pref != nil {
		lossName = cfg.Pref.Loss
	}
	return runfmt.Meta{
		Producer:    "train",
		RunID:       cfg.RunID(),
		Config:      cfg.JSON(),
		ModelConfig: string(mc),
		Loss:        lossName,
		Mode:        cfg.Mode,
		C:           cfg.Model.C,
		Groups:      gs,
		Vocab:       d.Vocab.Tokens,
	}, nil
}

// openSteps opens DIR/steps.arrows for writing. On resume, the rows of the
// previous stream with step ≤ upTo are copied into a new stream, which then
// replaces the old one.
func openSteps(dir string, meta runfmt.Meta, upTo int64, resume bool) (*os.File, *runfmt.StepWriter, error) {
	path := filepath.Join(dir, StepsFile)
	var old [][]StepRow
	if resume {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("resume: %w", err)
		}
		old, err = readStepRows(b, path, upTo)
		if err != nil {
			return nil, nil, fmt.Errorf("resume: %v", err)
		}
	}
	tmp := filepath.Join(dir, "."+StepsFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return nil, nil, err
	}
	sw, err := runfmt.NewStepWriter(f, meta)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	for _, rows := range old {
		if err := sw.Write(rows); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, sw, nil
}
