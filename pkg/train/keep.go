package train

import (
	"fmt"
	"os"
	"path/filepath"

	"entangle/pkg/runfmt"
)

// SeriesDir is the directory, inside a run directory, where -save-every keeps
// the weights of step n: the name of a Hugging Face Trainer's checkpoints,
// from which -mode analyze takes the step.
func SeriesDir(n int) string { return fmt.Sprintf("checkpoint-%d", n) }

// keepWeights writes DIR/checkpoint-N/model.safetensors (WriteModel: the
// weights and the run's config, no optimizer state) when -save-every divides
// step n.
func (r *runner) keepWeights(md mode, n int) error {
	if r.cfg.SaveEvery <= 0 || n%r.cfg.SaveEvery != 0 {
		return nil
	}
	c := &Checkpoint{Model: r.cfg.Model, Params: r.m.Params, Train: r.cfg, Step: n, Mode: r.cfg.Mode, Family: r.family}
	md.save(c)
	d := filepath.Join(r.opt.Dir, SeriesDir(n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	return WriteModel(filepath.Join(d, runfmt.ModelFile), c)
}

// removeSeries removes the weights a previous run in dir kept with
// -save-every (checkpoint-N/model.safetensors, and the directory when that
// leaves it empty); other files are left.
func removeSeries(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() || !checkpointDir.MatchString(e.Name()) {
			continue
		}
		d := filepath.Join(dir, e.Name())
		if err := os.Remove(filepath.Join(d, runfmt.ModelFile)); err != nil && !os.IsNotExist(err) {
			return err
		}
		os.Remove(d) // fails, and is meant to, when other files are there
	}
	return nil
}
