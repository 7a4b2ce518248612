package train

import (
	"fmt"
	"os"
	"path/filepath"
)

// SeriesDir is the directory, inside a run directory, where -save-every keeps
// the weights of step n: the name of a Hugging Face Trainer's checkpoints,
// from which -mode analyze takes the step.
func SeriesDir(n int) string { return fmt.Sprintf("checkpoint-%d", n) }

// keepWeights writes DIR/checkpoint-N/model.safetensors (WriteModel: the
// weights and the run's config, no optimizer state) when -save-every divides
// step n.
func keepWeights(dir string, cfg *Config, n int, snapshot func(int) *Checkpoint) error {
	if cfg.SaveEvery <= 0 || n%cfg.SaveEvery != 0 {
		return nil
	}
	d := filepath.Join(dir, SeriesDir(n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	return WriteModel(filepath.Join(d, ModelFile), snapshot(n))
}
