package train

import (
	"bytes"
	"fmt"

	"entangle/pkg/runfmt"
)

// StepRow is one row of steps.arrows (format "entangle.steps", written with
// pkg/runfmt): a training step (Kind "train") or an evaluation (Kind "eval").
// NaN is written as null.
type StepRow = runfmt.StepRow

// FormatVersion is the version of the checkpoint formats this package writes.
const FormatVersion = "1"

// readStepRows reads the rows of the steps stream b whose step is at most
// maxStep, grouped by record batch (one per step). A truncated stream (a
// killed run) yields its complete batches.
func readStepRows(b []byte, name string, maxStep int64) ([][]StepRow, error) {
	r, err := runfmt.NewStepReader(bytes.NewReader(b), name)
	if err != nil {
		return nil, err
	}
	defer r.Release()
	var batches [][]StepRow
	for r.Next() {
		var rows []StepRow
		for _, row := range r.Rows() {
			if row.Step <= maxStep {
				rows = append(rows, row)
			}
		}
		if len(rows) > 0 {
			batches = append(batches, rows)
		}
	}
	if err := r.Err(); err != nil && len(batches) == 0 {
		return nil, fmt.Errorf("%v", err)
	}
	// A truncation error after complete batches is what a killed run leaves:
	// the complete steps are kept.
	return batches, nil
}
