package train

import "entangle/pkg/runfmt"

// StepRow is one row of steps.arrows (format "entangle.steps", written with
// pkg/runfmt): a training step (Kind "train") or an evaluation (Kind "eval").
// NaN is written as null.
type StepRow = runfmt.StepRow

// FormatVersion is the version of the checkpoint formats this package
// writes: the run's streams' (runfmt.Version, where its history is), one
// number for every file of a run. ReadCheckpoint reads the versions
// runfmt.Readable accepts.
const FormatVersion = runfmt.Version
