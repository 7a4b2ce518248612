package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"entangle/pkg/model"
	"entangle/pkg/optim"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
)

// Options are the settings of a run that do not change its results.
type Options struct {
	Dir    string    // the run directory
	Force  bool      // start in a non-empty Dir, replacing a previous run's files
	Stderr io.Writer // evaluation lines (nil = discard)
	Quiet  bool      // no evaluation lines

	// Warn, when set, reports a warning (one line, no newline in format).
	Warn func(format string, args ...any)
	// Progress, when set, returns the progress reporter of a run of total
	// steps (nil: none).
	Progress func(total int) Progress

	// PairsOut, when set, also receives the pairs stream of -mode pref
	// (train -o -).
	PairsOut io.Writer

	// AfterStep, when set, is called after each step's outputs (metrics row,
	// periodic checkpoint) are written, with the number of steps done. Tests
	// use it to interrupt a run at a given step.
	AfterStep func(step int)

	// model, when set (tests), receives the run's model once it is set up.
	model func(m *model.Model[float32])
}

// Progress reports the steps done, with a message.
type Progress interface {
	Update(done int, msg string)
}

// ErrInterrupted is wrapped by the error Run and Resume return when the
// context was cancelled: the checkpoint of the last complete step was written.
var ErrInterrupted = errors.New("interrupted")

// CheckDir reports whether dir can hold a new run: it does not exist, is
// empty (but for a runfmt.SweepLog), or force is set.
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
		if e.Name() != runfmt.SweepLog { // a sweep runner's log, written before the run starts
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

// Run trains a new run in opt.Dir with cfg (resolved by Prepare) on d. The
// outputs of a previous run there (runfmt.Layout, and the weights kept by
// -save-every) are removed first.
func Run(ctx context.Context, cfg Config, d *prefdata.Dataset, opt Options) error {
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return err
	}
	if err := runfmt.RemoveOutputs(opt.Dir); err != nil {
		return err
	}
	if err := removeSeries(opt.Dir); err != nil {
		return err
	}
	return run(ctx, cfg, d, nil, opt)
}

// Resume continues the run in opt.Dir from its checkpoint, on the same data d.
// Its outputs are bit-identical to those of an uninterrupted run (but for
// the wall-time column ms): each stream is rebuilt from its rows up to the
// checkpoint's step (openStream). The checkpoint's config is validated as
// the flags are (Config.Validate).
func Resume(ctx context.Context, d *prefdata.Dataset, opt Options) error {
	path := filepath.Join(opt.Dir, runfmt.CheckpointFile)
	ck, err := ReadCheckpoint(path)
	if err != nil {
		return err
	}
	if ck.Train.Mode == "" || ck.Train.Steps == 0 {
		return fmt.Errorf("checkpoint %s: no train_config: it is not a resumable checkpoint", path)
	}
	if err := ck.Train.Validate(); err != nil {
		return fmt.Errorf("checkpoint %s: train_config: %w", path, err)
	}
	switch {
	case ck.Train.Model != ck.Model:
		return fmt.Errorf("checkpoint %s: train_config's model differs from the checkpoint's", path)
	case ck.Step > ck.Train.Steps:
		return fmt.Errorf("checkpoint %s: step %d is past the run's %d steps", path, ck.Step, ck.Train.Steps)
	case ck.Mode != ck.Train.Mode:
		return fmt.Errorf("checkpoint %s: mode %q differs from train_config's %q", path, ck.Mode, ck.Train.Mode)
	}
	if fp := Fingerprint(d); fp != ck.Train.Data {
		return fmt.Errorf("checkpoint %s was trained on other data (fingerprint %s, this dataset's is %s)", path, ck.Train.Data, fp)
	}
	if err := CheckFits(ck.Model, d); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := CheckMemory(&ck.Train, d.MaxLen()); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if _, err := os.Stat(filepath.Join(opt.Dir, runfmt.DoneFile)); err == nil {
		return fmt.Errorf("the run in %s is complete (%s exists); nothing to resume", opt.Dir, runfmt.DoneFile)
	}
	// Temporary files of killed writes (checkpoints, stream copies).
	if err := runfmt.RemoveTemps(opt.Dir, false); err != nil {
		return err
	}
	return run(ctx, ck.Train, d, ck, opt)
}

// runner is a run in progress: what SFT and preference mode share.
type runner struct {
	cfg         Config
	d           *prefdata.Dataset
	ck          *Checkpoint // the checkpoint resumed from, nil for a new run
	family      string      // Checkpoint.Family of the weights
	opt         Options
	start       int // the first step to take
	train, test []prefdata.Example
	m           *model.Model[float32]
	lora        *model.LoRA[float32]                      // -lora: the adapters (lora.go), nil otherwise
	ag          []float32                                 // -lora: the adapter gradient of a step
	update      func(params, grads []float32, lr float64) // the optimizer
	splitter    optim.Splitter[float32]                   // the same optimizer's Split
	optState    func(c *Checkpoint)
	sched       optim.Schedule
	ln          *lanes
	meta        runfmt.Meta
	steps       *stream[runfmt.StepRow]
	stderr      io.Writer
}

// mode is what differs between SFT and preference optimization.
type mode interface {
	// step takes optimizer step s+1 (s counts from 0) and writes the mode's
	// own streams; it returns the step's train row and a progress message.
	step(s int) (runfmt.StepRow, string, error)
	// eval returns the eval row of step s.
	eval(s int) runfmt.StepRow
	// save adds the mode's state to a checkpoint.
	save(c *Checkpoint)
	// close ends the mode's own streams.
	close() error
}

// run sets up a run (a new one, or ck's) and runs its loop.
func run(ctx context.Context, cfg Config, d *prefdata.Dataset, ck *Checkpoint, opt Options) error {
	r := &runner{cfg: cfg, d: d, ck: ck, opt: opt, stderr: opt.Stderr}
	if r.stderr == nil {
		r.stderr = io.Discard
	}
	var fellBack bool
	r.train, r.test, fellBack = splits(&cfg, d)
	if fellBack {
		r.warnf("the dataset has no sft rows; training on its %d train rows (prompt + chosen)", len(r.train))
	}
	if len(r.test) == 0 {
		r.warnf("the dataset has no test rows; no held-out evaluation")
	}
	defer func() {
		if r.m != nil {
			r.m.Close()
		}
	}()
	if err := r.setup(); err != nil {
		return err
	}
	var md mode
	var err error
	if cfg.Mode == ModePref {
		md, err = newPrefMode(r)
	} else {
		md, err = newSFTMode(r), nil
	}
	if err != nil {
		r.steps.close()
		return err
	}
	return r.loop(ctx, md)
}

// setup makes the model and the optimizer (from the checkpoint on resume),
// writes config.json of a new run and opens steps.arrows.
func (r *runner) setup() error {
	cfg, ck := &r.cfg, r.ck
	r.m = model.New[float32](cfg.Model)
	switch {
	case ck != nil:
		copy(r.m.Params, ck.Params)
		r.start, r.family = ck.Step, ck.Family
	case cfg.Init != "":
		ick, err := ReadCheckpoint(cfg.Init)
		if err != nil {
			return err
		}
		if ick.Model != cfg.Model {
			return fmt.Errorf("checkpoint %s: its model config differs from the run's", cfg.Init)
		}
		if err := notLoRACheckpoint(cfg.Init, ick); err != nil {
			return err
		}
		copy(r.m.Params, ick.Params)
		r.family = ick.Family
	default:
		r.m.Init(cfg.Seed)
	}
	if cfg.LoRA != nil {
		if err := r.setupLoRA(); err != nil {
			return err
		}
	}
	P := r.trainable()
	switch cfg.Optim {
	case OptimSGD:
		o := optim.NewSGD[float32](P, cfg.Momentum, cfg.WeightDecay)
		if ck != nil {
			o.T = ck.OptimT
			if o.M != nil && ck.M != nil {
				copy(o.M, ck.M)
			}
		}
		r.update, r.splitter = o.Step, o
		r.optState = func(c *Checkpoint) { c.M, c.OptimT = o.M, o.T }
	default:
		o := optim.NewAdamW[float32](P, cfg.WeightDecay)
		o.Adam = cfg.AdamParams()
		if ck != nil {
			if ck.M == nil || ck.V == nil {
				return fmt.Errorf("checkpoint: AdamW moments optim.m/optim.v are missing")
			}
			copy(o.M, ck.M)
			copy(o.V, ck.V)
			o.T = ck.OptimT
		}
		r.update, r.splitter = o.Step, o
		r.optState = func(c *Checkpoint) { c.M, c.V, c.OptimT = o.M, o.V, o.T }
	}
	r.sched = cfg.Schedule(cfg.Steps)
	if err := r.sched.Validate(); err != nil {
		return err
	}
	r.ln = newLanes(r.m, Lanes(cfg, r.d.MaxLen()))
	if r.opt.model != nil {
		r.opt.model(r.m)
	}
	if cfg.LoRA.AdaptersOnly() {
		r.ln.lora = r.lora
	}

	var err error
	if r.meta, err = streamMeta(cfg, r.d); err != nil {
		return err
	}
	if ck == nil {
		js, _ := json.MarshalIndent(cfg, "", "  ")
		if err := runfmt.WriteFileAtomic(filepath.Join(r.opt.Dir, runfmt.ConfigFile), append(js, '\n')); err != nil {
			return err
		}
	}
	// steps.arrows: the step-0 evaluation (with a test split), then every step.
	hasTest := len(r.test) > 0
	r.steps, err = openStream(r.opt.Dir, stepsFormat, r.meta, nil, r.upTo(), func(s int64) bool { return s > 0 || hasTest })
	return err
}

// upTo is the step up to which a resumed run's streams are kept (openStream):
// the checkpoint's; −1 for a new run.
func (r *runner) upTo() int64 {
	if r.ck == nil {
		return -1
	}
	return int64(r.ck.Step)
}

func (r *runner) warnf(format string, args ...any) {
	if r.opt.Warn != nil {
		r.opt.Warn(format, args...)
	}
}

// evalDue reports whether step s (counted from 1) is followed by an evaluation.
func (r *runner) evalDue(s int) bool {
	return len(r.test) > 0 && (s == r.cfg.Steps || (r.cfg.EvalEvery > 0 && s%r.cfg.EvalEvery == 0))
}

// checkpoint writes the checkpoint of step s (model, optimizer, mode state).
func (r *runner) checkpoint(md mode, s int, final bool) error {
	c := &Checkpoint{Model: r.cfg.Model, Params: r.m.Params, Train: r.cfg, Step: s, Mode: r.cfg.Mode, Family: r.family}
	r.optState(c)
	md.save(c)
	var err error
	if r.lora != nil { // the base weights and the adapters
		c.LoRA = r.lora.Params
		r.withBase(func() { err = WriteCheckpoint(filepath.Join(r.opt.Dir, runfmt.CheckpointFile), c) })
	} else {
		err = WriteCheckpoint(filepath.Join(r.opt.Dir, runfmt.CheckpointFile), c)
	}
	if err != nil || !final {
		return err
	}
	if r.lora != nil {
		if err := r.writeAdapter(); err != nil {
			return err
		}
		c.LoRA = nil // model.safetensors: the merged weights
	}
	return WriteModel(filepath.Join(r.opt.Dir, runfmt.ModelFile), c)
}

// loop is the training loop of both modes: the step-0 evaluation of a new
// run, then per step the mode's step, the steps.arrows row (and eval row),
// progress and periodic checkpoints; on cancellation the checkpoint of the
// last complete step; at the end the final checkpoint, model.safetensors,
// the streams' end-of-stream markers and DONE.
func (r *runner) loop(ctx context.Context, md mode) (err error) {
	closed := false
	closeAll := func() error {
		closed = true
		return errors.Join(md.close(), r.steps.close())
	}
	defer func() {
		if !closed {
			closeAll()
		}
	}()
	cfg := &r.cfg
	if r.ck == nil && len(r.test) > 0 { // a resumed run copied its step-0 row
		if err := r.steps.write([]runfmt.StepRow{md.eval(0)}); err != nil {
			return err
		}
	}
	var prog Progress = noProgress{}
	if r.opt.Progress != nil {
		if p := r.opt.Progress(cfg.Steps); p != nil {
			prog = p
		}
	}
	for s := r.start; s < cfg.Steps; s++ {
		if ctx.Err() != nil {
			if err := r.checkpoint(md, s, false); err != nil {
				return err
			}
			if err := closeAll(); err != nil {
				return err
			}
			path := filepath.Join(r.opt.Dir, runfmt.CheckpointFile)
			return fmt.Errorf("%w after step %d of %d; checkpoint written to %s (continue with -resume %s)", ErrInterrupted, s, cfg.Steps, path, r.opt.Dir)
		}
		t0 := time.Now()
		row, msg, err := md.step(s)
		if err != nil {
			return err
		}
		row.Ms = float64(time.Since(t0).Microseconds()) / 1000
		rows := []runfmt.StepRow{row}
		if r.evalDue(s + 1) {
			rows = append(rows, md.eval(s+1))
		}
		if err := r.steps.write(rows); err != nil {
			return err
		}
		prog.Update(s+1, fmt.Sprintf("%s %.1fms/step", msg, row.Ms))
		if err := r.keepWeights(md, s+1); err != nil {
			return err
		}
		if cfg.CkptEvery > 0 && (s+1)%cfg.CkptEvery == 0 && s+1 < cfg.Steps {
			if err := r.checkpoint(md, s+1, false); err != nil {
				return err
			}
		}
		if r.opt.AfterStep != nil {
			r.opt.AfterStep(s + 1)
		}
	}
	if err := r.checkpoint(md, cfg.Steps, true); err != nil {
		return err
	}
	if err := closeAll(); err != nil {
		return err
	}
	return runfmt.WriteFileAtomic(filepath.Join(r.opt.Dir, runfmt.DoneFile), []byte(strconv.Itoa(cfg.Steps)+"\n"))
}

type noProgress struct{}

func (noProgress) Update(int, string) {}

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
	switch {
	case cfg.Mode == ModePref && cfg.LoRA.AdaptersOnly():
		gs = loraGroups(cfg) // the pairs' totals are the adapters'
	case cfg.Mode == ModePref:
		gs = append(gs, loraGroups(cfg)...)
	}
	lossName := ""
	if cfg.Pref != nil {
		lossName = cfg.Pref.Loss
	}
	return runfmt.Meta{
		Producer:    runfmt.Producer,
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
