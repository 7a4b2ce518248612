package train

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"entangle/pkg/cli"
	"entangle/pkg/entangle"
	"entangle/pkg/hfmodel"
	"entangle/pkg/model"
	"entangle/pkg/pref"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
)

// ModeAnalyze is train's -mode analyze: no training; one checkpoint of a run
// trained elsewhere (or here) is evaluated on a split's pairs with a
// preference loss, writing the streams a preference run writes (pairs.arrows
// with the pairs as probe rows at the checkpoint's step, steps.arrows with
// one eval row, grads.arrows with -grads). MergeAnalyses joins the
// directories of a series of checkpoints (and shards) into one run.
const ModeAnalyze = "analyze"

// AnalyzeConfig is the resolved configuration of one analysis (config.json
// and the streams' "config" metadata).
type AnalyzeConfig struct {
	Mode  string       `json:"mode"`  // ModeAnalyze
	Init  string       `json:"init"`  // the checkpoint analysed ("" in a merged run: see Points)
	Step  int64        `json:"step"`  // its training step (the rows' step)
	Model model.Config `json:"model"` // its model config
	Pref  PrefConfig   `json:"pref"`  // loss, β, reference, sketch; the training settings are unused
	Split string       `json:"split"` // the split whose pairs are analysed
	Pairs int          `json:"pairs"` // the first Pairs pairs of the split (0: all)
	// Shard i of Shards takes the pairs whose position in the (cut) split is
	// i modulo Shards.
	Shard  int    `json:"shard"`
	Shards int    `json:"shards"`
	Data   string `json:"data"` // the dataset's fingerprint
	// Points lists the analyses a merged run holds (MergeAnalyses).
	Points []AnalyzePoint `json:"points,omitempty"`
}

// AnalyzePoint is one analysis of a merged run.
type AnalyzePoint struct {
	Step  int64  `json:"step"`
	Init  string `json:"init"`
	Shard int    `json:"shard"`
}

// SeriesID is the run_id of an analysis: a hash of its configuration without
// the checkpoint, its step, the sharding and Points, so that every analysis
// of one series (same reference, loss, data, split and sketch) shares it.
func (c *AnalyzeConfig) SeriesID() string {
	k := *c
	k.Init, k.Step, k.Shard, k.Shards, k.Points = "", 0, 0, 0, nil
	b, _ := json.Marshal(k)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func (c *AnalyzeConfig) json() string {
	b, _ := json.Marshal(c)
	return string(b)
}

var checkpointDir = regexp.MustCompile(`^checkpoint-([0-9]+)$`)

// CheckpointStep returns the training step of the checkpoint at path: the N
// of a directory named checkpoint-N (the path itself, or the directory of a
// file), else trainer_state.json's global_step in that directory, else the
// "step" an entangle checkpoint records. ok is false when none says.
func CheckpointStep(path string) (step int64, ok bool, err error) {
	dir := path
	if !hfmodel.IsDir(path) {
		dir = filepath.Dir(path)
	}
	if m := checkpointDir.FindStringSubmatch(filepath.Base(filepath.Clean(dir))); m != nil {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s: step %q out of range", dir, m[1])
		}
		return n, true, nil
	}
	ts := filepath.Join(dir, "trainer_state.json")
	if b, err := os.ReadFile(ts); err == nil {
		var st struct {
			GlobalStep *int64 `json:"global_step"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return 0, false, fmt.Errorf("%s: %v", ts, err)
		}
		if st.GlobalStep != nil {
			return *st.GlobalStep, true, nil
		}
	}
	if !hfmodel.IsDir(path) {
		r, c, err := openCheckpoint(path)
		if err != nil {
			return 0, false, err
		}
		r.Close()
		return int64(c.Step), true, nil
	}
	return 0, false, nil
}

// Analyze evaluates the checkpoint cfg.Init on its share of the split's pairs
// and writes opt.Dir: config.json, steps.arrows (one eval row at cfg.Step:
// the means of the loss, margin, log-probs, rewards and cos over the pairs),
// pairs.arrows (one probe row per pair: log-probs, reference log-probs,
// d_w, d_l, ⟨g_w,g_l⟩ and the norms overall and per parameter group),
// grads.arrows with -grads (the pairs' sequence gradients, full or sketched,
// and per-token gradients of the first TokenGrads pairs) and DONE last. Each
// stream is written whole and renamed into place, so an interrupted analysis
// leaves no stream (and no DONE). The reference log-probs are computed once,
// with the reference model freed before the policy's gradients run.
func Analyze(ctx context.Context, cfg AnalyzeConfig, d *prefdata.Dataset, opt Options) error {
	pc := &cfg.Pref
	scfg, err := stepperConfig(pc, 0)
	if err != nil {
		return err
	}
	mine, err := shardPairs(&cfg, d)
	if err != nil {
		return err
	}
	refPath := pc.Ref
	if refPath == "" {
		refPath = cfg.Init
	}
	rck, err := ReadCheckpoint(refPath)
	if err != nil {
		return err
	}
	if rck.Model != cfg.Model {
		return fmt.Errorf("reference %s: its model config %+v differs from the checkpoint's %+v", refPath, rck.Model, cfg.Model)
	}
	// The models adopt the weights read (no second copy), and the reference's
	// are garbage before the policy's are read: one parameter vector at a time.
	ref := model.NewWith(cfg.Model, rck.Params)
	rck = nil
	pairs := refLogProbs(ref, mine, scfg.Sparse)
	ref.Close()
	ref = nil
	runtime.GC()

	ck, err := ReadCheckpoint(cfg.Init)
	if err != nil {
		return err
	}
	m := model.NewWith(cfg.Model, ck.Params)
	ck = nil
	defer m.Close()
	st := pref.NewStepper(m, scfg)
	beta := scfg.Beta
	if beta == 0 {
		beta = 1 // pkg/pref's rewards for losses without β
	}

	var proj entangle.Projection
	if pc.Grads != "" && pc.Grads != "full" {
		proj = NewProjection(pc.Grads, pc.SketchSeed)
	}
	var prog Progress = noProgress{}
	if opt.Progress != nil {
		if p := opt.Progress(len(pairs)); p != nil {
			prog = p
		}
	}
	var seqRows []runfmt.GradRow
	visit := func(i int, gw, gl []float32) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if pc.Grads != "" {
			id := pairs[i].Ex.ID
			seqRows = append(seqRows,
				runfmt.GradRow{Step: cfg.Step, Kind: runfmt.KindProbe, Pair: id, Side: runfmt.SideChosen, Token: -1, TokenID: -1, Contrastive: -1, Grad: project(gw, proj)},
				runfmt.GradRow{Step: cfg.Step, Kind: runfmt.KindProbe, Pair: id, Side: runfmt.SideRejected, Token: -1, TokenID: -1, Contrastive: -1, Grad: project(gl, proj)})
		}
		prog.Update(i+1, fmt.Sprintf("step %d", cfg.Step))
		return nil
	}
	stats, err := st.Evaluate(pairs, visit)
	if err != nil {
		return err
	}
	rows := appendPairRows(nil, cfg.Step, runfmt.KindProbe, stats)
	var tokRows []runfmt.GradRow
	if pc.Grads != "" && pc.TokenGrads > 0 {
		n := min(pc.TokenGrads, len(pairs))
		for _, r := range appendGradRows(nil, cfg.Step, st.Dump(nil, pref.VecProbe, pairs[:n], n, proj)) {
			if r.Token >= 0 {
				tokRows = append(tokRows, r)
			}
		}
	}

	// Streams.
	meta := analyzeMeta(&cfg, d)
	write := func(name string, fill func(b *bytes.Buffer) error) error {
		var b bytes.Buffer
		if err := fill(&b); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return cli.WriteFileAtomic(filepath.Join(opt.Dir, name), b.Bytes())
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return err
	}
	if err := cli.WriteFileAtomic(filepath.Join(opt.Dir, runfmt.ConfigFile), []byte(cfg.json()+"\n")); err != nil {
		return err
	}
	if err := write(runfmt.StepsFile, func(b *bytes.Buffer) error {
		return writeBatches(b, meta, runfmt.NewStepWriter, [][]runfmt.StepRow{{analysisEvalRow(cfg.Step, rows, beta)}})
	}); err != nil {
		return err
	}
	if err := write(runfmt.PairsFile, func(b *bytes.Buffer) error {
		return writeBatches(b, meta, runfmt.NewPairWriter, [][]runfmt.PairRow{rows})
	}); err != nil {
		return err
	}
	if pc.Grads != "" {
		gmeta := gradsMeta(meta, pc, len(m.Params))
		if err := write(runfmt.GradsFile, func(b *bytes.Buffer) error {
			return writeBatches(b, gmeta, runfmt.NewGradWriter, [][]runfmt.GradRow{append(seqRows, tokRows...)})
		}); err != nil {
			return err
		}
	}
	return cli.WriteFileAtomic(filepath.Join(opt.Dir, runfmt.DoneFile), []byte(strconv.FormatInt(cfg.Step, 10)+"\n"))
}

// NewProjection returns the projection a -grads value names: sketch:K (the
// dense entangle.Sketch) or countsketch:K; nil for full or "".
func NewProjection(grads string, seed uint64) entangle.Projection {
	if k, ok := strings.CutPrefix(grads, "countsketch:"); ok {
		K, _ := strconv.Atoi(k)
		return entangle.NewCountSketch(seed, K)
	}
	if k, ok := strings.CutPrefix(grads, "sketch:"); ok {
		K, _ := strconv.Atoi(k)
		return entangle.NewSketch(seed, K)
	}
	return nil
}

// project returns g as float32 (a copy), projected by p unless p is nil.
func project(g []float32, p entangle.Projection) []float32 {
	if p == nil {
		return append([]float32(nil), g...)
	}
	out := make([]float32, p.K())
	p.Project(out, g)
	return out
}

// analysisEvalRow is the steps.arrows row of an analysis: means over the pairs.
func analysisEvalRow(step int64, rows []runfmt.PairRow, beta float64) runfmt.StepRow {
	r := runfmt.NullStepRow(step, runfmt.KindEval)
	var loss, margin, lw, ll, lwt, llt, rw, rl, acc, cos float64
	ncos := 0
	for _, p := range rows {
		loss += p.Loss
		margin += p.Margin
		lw += p.LogpW
		ll += p.LogpL
		lwt += p.LogpW / float64(max(p.LenW, 1))
		llt += p.LogpL / float64(max(p.LenL, 1))
		a, b := beta*(p.LogpW-p.RefW), beta*(p.LogpL-p.RefL)
		rw += a
		rl += b
		if a > b {
			acc++
		}
		if p.WW > 0 && p.LL > 0 {
			cos += p.Dot / math.Sqrt(p.WW*p.LL)
			ncos++
		}
	}
	n := float64(len(rows))
	r.Loss, r.Margin, r.LogpChosen, r.LogpRejected = loss/n, margin/n, lw/n, ll/n
	r.LogpChosenTok, r.LogpRejectedTok = lwt/n, llt/n
	r.RewardsChosen, r.RewardsRejected, r.RewardsMargins, r.RewardsAccuracies = rw/n, rl/n, (rw-rl)/n, acc/n
	if ncos > 0 {
		r.CosMean = cos / float64(ncos)
	}
	return r
}

// analyzeMeta is the metadata of an analysis's streams.
func analyzeMeta(cfg *AnalyzeConfig, d *prefdata.Dataset) runfmt.Meta {
	mc, _ := json.Marshal(cfg.Model)
	var gs []runfmt.Group
	for _, t := range model.Tensors(cfg.Model) {
		gs = append(gs, runfmt.Group{Name: t.Name, Offset: t.Offset, Size: t.Size})
	}
	return runfmt.Meta{Producer: "train", RunID: cfg.SeriesID(), Config: cfg.json(), ModelConfig: string(mc),
		Loss: cfg.Pref.Loss, Mode: ModeAnalyze, C: cfg.Model.C, Groups: gs, Vocab: d.Vocab.Tokens}
}

// gradsMeta adds grads.arrows' keys: "sketch" (full, sketch:K or
// countsketch:K), its seed and scheme, and the vector length.
func gradsMeta(meta runfmt.Meta, pc *PrefConfig, n int) runfmt.Meta {
	g := meta
	g.Sketch, g.Dim = "full", n
	if p := NewProjection(pc.Grads, pc.SketchSeed); p != nil {
		g.Sketch, g.SketchSeed, g.Dim = pc.Grads, pc.SketchSeed, p.K()
		g.Raw = map[string]string{"sketch_scheme": p.Scheme()}
	}
	return g
}

// writeBatches writes batches of rows to b through the stream writer that
// open makes (runfmt.NewStepWriter, NewPairWriter or NewGradWriter).
func writeBatches[R any, W interface {
	Write([]R) error
	Close() error
}](b *bytes.Buffer, meta runfmt.Meta, open func(io.Writer, runfmt.Meta, ...runfmt.Option) (W, error), batches [][]R) error {
	w, err := open(b, meta)
	if err != nil {
		return err
	}
	for _, rows := range batches {
		if err := w.Write(rows); err != nil {
			return err
		}
	}
	return w.Close()
}

// shardPairs returns the pairs of cfg's shard: those of the first Pairs of
// the split whose position is Shard modulo Shards.
func shardPairs(cfg *AnalyzeConfig, d *prefdata.Dataset) ([]prefdata.Example, error) {
	exs := d.Select(cfg.Split)
	if cfg.Pairs > 0 && cfg.Pairs < len(exs) {
		exs = exs[:cfg.Pairs]
	}
	var mine []prefdata.Example
	for i := range exs {
		if i%max(cfg.Shards, 1) == cfg.Shard {
			mine = append(mine, exs[i])
		}
	}
	if len(mine) == 0 {
		return nil, fmt.Errorf("the %s split has no pairs for shard %d/%d (%d pairs)", cfg.Split, cfg.Shard, cfg.Shards, len(exs))
	}
	return mine, nil
}

// PrepareAnalyze resolves the model config of cfg.Init (headers only) and
// checks the checkpoint and the reference against the dataset and the
// memory available, before anything is allocated.
func PrepareAnalyze(cfg *AnalyzeConfig, d *prefdata.Dataset) error {
	c := Config{Mode: ModePref, Init: cfg.Init, Pref: &cfg.Pref, Batch: 1}
	if err := checkSources(&c, d); err != nil {
		return err
	}
	cfg.Model = c.Model
	if err := CheckFits(cfg.Model, d); err != nil {
		return err
	}
	mine, err := shardPairs(cfg, d)
	if err != nil {
		return err
	}
	maxLen, maxResp := 0, 0
	for _, e := range mine {
		maxLen = max(maxLen, len(e.Prompt)+max(len(e.Chosen), len(e.Rejected)))
		maxResp = max(maxResp, len(e.Chosen), len(e.Rejected))
	}
	return CheckAnalyzeMemory(cfg, len(mine), maxLen, maxResp)
}
