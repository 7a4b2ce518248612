package train

import (
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"entangle/pkg/arrowio"
)

// This file writes and reads steps.arrows (format "entangle.steps",
// docs/FORMATS.md) until pkg/runfmt provides the shared writer and reader;
// the schema is the spec's, column for column.

// StepsFormat identifies the metrics stream.
const StepsFormat = "entangle.steps"

// FormatVersion is the version of every format this package writes.
const FormatVersion = "1"

// StepRow is one row of steps.arrows: a training step (Kind "train") or an
// evaluation (Kind "eval"). NaN is written as null.
type StepRow struct {
	Step                                       int64
	Kind                                       string
	LR, Loss, GradNorm, Ms, TokenAcc, Margin   float64
	LogpChosen, LogpRejected                   float64
	LogpChosenTok, LogpRejectedTok             float64
	RewardsChosen, RewardsRejected             float64
	RewardsMargins, RewardsAccuracies, CosMean float64
	BatchDot, BatchWW, BatchLL                 float64
}

// nullRow returns a row with every float NaN (null).
func nullRow(step int64, kind string) StepRow {
	n := math.NaN()
	return StepRow{Step: step, Kind: kind, LR: n, Loss: n, GradNorm: n, Ms: n, TokenAcc: n, Margin: n,
		LogpChosen: n, LogpRejected: n, LogpChosenTok: n, LogpRejectedTok: n,
		RewardsChosen: n, RewardsRejected: n, RewardsMargins: n, RewardsAccuracies: n, CosMean: n,
		BatchDot: n, BatchWW: n, BatchLL: n}
}

var stepFloatCols = []string{"lr", "loss", "grad_norm", "ms", "token_acc", "margin",
	"logp_chosen", "logp_rejected", "logp_chosen_tok", "logp_rejected_tok",
	"rewards_chosen", "rewards_rejected", "rewards_margins", "rewards_accuracies", "cos_mean",
	"batch_dot", "batch_ww", "batch_ll"}

func (r *StepRow) floats() []*float64 {
	return []*float64{&r.LR, &r.Loss, &r.GradNorm, &r.Ms, &r.TokenAcc, &r.Margin,
		&r.LogpChosen, &r.LogpRejected, &r.LogpChosenTok, &r.LogpRejectedTok,
		&r.RewardsChosen, &r.RewardsRejected, &r.RewardsMargins, &r.RewardsAccuracies, &r.CosMean,
		&r.BatchDot, &r.BatchWW, &r.BatchLL}
}

func stepsSchema(meta map[string]string) *arrow.Schema {
	fields := []arrow.Field{
		{Name: "step", Type: arrow.PrimitiveTypes.Int64},
		{Name: "kind", Type: arrow.BinaryTypes.String},
	}
	for _, c := range stepFloatCols {
		fields = append(fields, arrow.Field{Name: c, Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	md := arrow.MetadataFrom(meta)
	return arrow.NewSchema(fields, &md)
}

// stepWriter writes one record batch per Write to an Arrow IPC stream.
type stepWriter struct {
	w *ipc.Writer
	b *array.RecordBuilder
}

// newStepWriter starts a steps stream on w with the given schema metadata.
func newStepWriter(w io.Writer, meta map[string]string) *stepWriter {
	s := stepsSchema(meta)
	return &stepWriter{w: ipc.NewWriter(w, ipc.WithSchema(s)), b: array.NewRecordBuilder(memory.DefaultAllocator, s)}
}

// Write writes rows as one record batch.
func (sw *stepWriter) Write(rows []StepRow) error {
	for i := range rows {
		r := &rows[i]
		sw.b.Field(0).(*array.Int64Builder).Append(r.Step)
		sw.b.Field(1).(*array.StringBuilder).Append(r.Kind)
		for j, p := range r.floats() {
			fb := sw.b.Field(2 + j).(*array.Float64Builder)
			if math.IsNaN(*p) {
				fb.AppendNull()
			} else {
				fb.Append(*p)
			}
		}
	}
	rec := sw.b.NewRecord()
	defer rec.Release()
	return sw.w.Write(rec)
}

// Close writes the end-of-stream marker.
func (sw *stepWriter) Close() error {
	sw.b.Release()
	return sw.w.Close()
}

// readStepRows reads the rows of a steps stream whose step is at most maxStep,
// grouped by record batch. A truncated stream yields its complete batches.
func readStepRows(r io.Reader, size int, maxStep int64) (batches [][]StepRow, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt Arrow data (%v)", p)
		}
	}()
	sr, err := ipc.NewReader(r, ipc.WithAllocator(arrowio.LimitAllocator(8*size+1<<20)))
	if err != nil {
		return nil, err
	}
	defer sr.Release()
	if f, ok := sr.Schema().Metadata().GetValue("format"); !ok || f != StepsFormat {
		return nil, fmt.Errorf("not a %s stream (format %q)", StepsFormat, f)
	}
	for sr.Next() {
		rec := sr.Record()
		var rows []StepRow
		for i := range int(rec.NumRows()) {
			col := func(name string) arrow.Array {
				idx := rec.Schema().FieldIndices(name)
				if len(idx) == 0 {
					panic(fmt.Errorf("column %q missing", name))
				}
				return rec.Column(idx[0])
			}
			row := nullRow(col("step").(*array.Int64).Value(i), col("kind").(*array.String).Value(i))
			if row.Step > maxStep {
				continue
			}
			for j, p := range row.floats() {
				a := col(stepFloatCols[j]).(*array.Float64)
				if a.IsValid(i) {
					*p = a.Value(i)
				}
			}
			rows = append(rows, row)
		}
		if len(rows) > 0 {
			batches = append(batches, rows)
		}
	}
	// A killed run leaves a readable prefix: sr.Err() reports the truncation,
	// and the complete batches read so far are what resume keeps.
	return batches, nil
}
