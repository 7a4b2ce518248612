package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"entangle/pkg/cli"
	"entangle/pkg/runfmt"
)

// analysisPart is one analysis directory read whole.
type analysisPart struct {
	dir   string
	cfg   AnalyzeConfig
	meta  runfmt.Meta // of pairs.arrows
	gmeta *runfmt.Meta
	pairs []runfmt.PairRow
	grads []runfmt.GradRow
}

// MergeAnalyses joins complete analysis directories (train -mode analyze) of
// one series — the same reference, loss, data, split and sketch, i.e. the
// same run_id, and the same shard count — into the run directory out, which gradstat and plot
// read as one run: per checkpoint step (ascending) one record batch of each
// stream, holding that step's pairs from every shard in the split's order,
// and a steps.arrows eval row recomputed over all of them. Every step must
// have all its shards, once. config.json is the series' configuration with
// Init empty and Points listing the analyses. Inputs are left as they are.
func MergeAnalyses(out string, parts []string) error {
	if len(parts) == 0 {
		return fmt.Errorf("merge: no analysis directories")
	}
	var ps []*analysisPart
	for _, dir := range parts {
		p, err := readAnalysis(dir)
		if err != nil {
			return err
		}
		if len(ps) > 0 {
			if a, b := ps[0].cfg.SeriesID(), p.cfg.SeriesID(); a != b {
				return fmt.Errorf("%s: another series than %s (run_id %s, not %s: the reference, loss, data, split or sketch differ)", dir, ps[0].dir, b, a)
			}
			if p.cfg.Shards != ps[0].cfg.Shards {
				return fmt.Errorf("%s: %d shards, %s %d", dir, p.cfg.Shards, ps[0].dir, ps[0].cfg.Shards)
			}
		}
		ps = append(ps, p)
	}
	slices.SortStableFunc(ps, func(a, b *analysisPart) int {
		if a.cfg.Step != b.cfg.Step {
			return int(a.cfg.Step - b.cfg.Step)
		}
		return a.cfg.Shard - b.cfg.Shard
	})
	shards := ps[0].cfg.Shards
	merged := ps[0].cfg
	merged.Init, merged.Step, merged.Shard = "", 0, 0
	var pairBatches [][]runfmt.PairRow
	var stepBatches [][]runfmt.StepRow
	var gradBatches [][]runfmt.GradRow
	beta := rewardBeta(&merged.Pref)
	if beta == 0 {
		beta = 1
	}
	for i := 0; i < len(ps); {
		j := i
		for j < len(ps) && ps[j].cfg.Step == ps[i].cfg.Step {
			j++
		}
		group := ps[i:j]
		for k, p := range group {
			if p.cfg.Shard != k {
				return fmt.Errorf("merge: step %d: shard %d/%d is missing or given twice (%s)", p.cfg.Step, k, shards, p.dir)
			}
		}
		if len(group) != shards {
			return fmt.Errorf("merge: step %d: %d of %d shards", group[0].cfg.Step, len(group), shards)
		}
		// The split's order: position n is row n/shards of shard n%shards.
		var rows []runfmt.PairRow
		for n := 0; ; n++ {
			p := group[n%shards]
			if n/shards >= len(p.pairs) {
				break
			}
			rows = append(rows, p.pairs[n/shards])
		}
		var grads []runfmt.GradRow
		for _, p := range group {
			grads = append(grads, p.grads...)
			merged.Points = append(merged.Points, AnalyzePoint{Step: p.cfg.Step, Init: p.cfg.Init, Shard: p.cfg.Shard})
		}
		pairBatches = append(pairBatches, rows)
		stepBatches = append(stepBatches, []runfmt.StepRow{analysisEvalRow(group[0].cfg.Step, rows, beta)})
		gradBatches = append(gradBatches, grads)
		i = j
	}
	if err := CheckDir(out, false); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	meta := ps[0].meta
	meta.Config = merged.json()
	write := func(name string, fill func(b *bytes.Buffer) error) error {
		var b bytes.Buffer
		if err := fill(&b); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return cli.WriteFileAtomic(filepath.Join(out, name), b.Bytes())
	}
	if err := cli.WriteFileAtomic(filepath.Join(out, runfmt.ConfigFile), []byte(merged.json()+"\n")); err != nil {
		return err
	}
	if err := write(runfmt.StepsFile, func(b *bytes.Buffer) error { return writeBatches(b, meta, runfmt.NewStepWriter, stepBatches) }); err != nil {
		return err
	}
	if err := write(runfmt.PairsFile, func(b *bytes.Buffer) error { return writeBatches(b, meta, runfmt.NewPairWriter, pairBatches) }); err != nil {
		return err
	}
	if g := ps[0].gmeta; g != nil {
		gm := *g
		gm.Config = meta.Config
		if err := write(runfmt.GradsFile, func(b *bytes.Buffer) error { return writeBatches(b, gm, runfmt.NewGradWriter, gradBatches) }); err != nil {
			return err
		}
	}
	last := ps[len(ps)-1].cfg.Step
	return cli.WriteFileAtomic(filepath.Join(out, runfmt.DoneFile), []byte(strconv.FormatInt(last, 10)+"\n"))
}

// readAnalysis reads a complete analysis directory.
func readAnalysis(dir string) (*analysisPart, error) {
	if _, err := os.Stat(filepath.Join(dir, runfmt.DoneFile)); err != nil {
		return nil, fmt.Errorf("%s: not a complete analysis (no %s)", dir, runfmt.DoneFile)
	}
	p := &analysisPart{dir: dir}
	cpath := filepath.Join(dir, runfmt.ConfigFile)
	b, err := os.ReadFile(cpath)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &p.cfg); err != nil || p.cfg.Mode != ModeAnalyze {
		return nil, fmt.Errorf("%s: not the config of a train -mode analyze directory", cpath)
	}
	if len(p.cfg.Points) > 0 {
		return nil, fmt.Errorf("%s: already a merged run (merge the analyses it was made of)", dir)
	}
	ppath := filepath.Join(dir, runfmt.PairsFile)
	f, err := os.Open(ppath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pr, err := runfmt.NewPairReader(f, ppath)
	if err != nil {
		return nil, err
	}
	defer pr.Release()
	p.meta = pr.Meta()
	for pr.Next() {
		for _, r := range pr.Rows() {
			p.pairs = append(p.pairs, r.Clone())
		}
	}
	if err := pr.Err(); err != nil {
		return nil, err
	}
	gpath := filepath.Join(dir, runfmt.GradsFile)
	g, err := os.Open(gpath)
	if os.IsNotExist(err) {
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	defer g.Close()
	gr, err := runfmt.NewGradReader(g, gpath)
	if err != nil {
		return nil, err
	}
	defer gr.Release()
	gm := gr.Meta()
	p.gmeta = &gm
	for gr.Next() {
		for _, r := range gr.Rows() {
			r.Grad = slices.Clone(r.Grad)
			p.grads = append(p.grads, r)
		}
	}
	return p, gr.Err()
}
