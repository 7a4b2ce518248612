// Package sweep expands a declarative sweep spec (a grid of runs: tasks ×
// losses × hyperparameters × seeds) into one shell command per run, each run
// writing into its own hive-partitioned directory
//
//	{root}/task=long-suffix/loss=dpo/beta=0.1/seed=1/
//
// the layout that pyarrow datasets, polars and Spark read as partitions. It
// also runs the expansion locally with bounded parallelism, skipping runs that
// are already done (so an interrupted sweep resumes), and writes the same
// expansion as a Slurm job-array script. The spec grammar is in
// docs/FORMATS.md ("Sweep spec"); cmd/sweep is the command-line front end.
//
// A spec is parsed by Parse (at most MaxSpecBytes, a grid of at most MaxRuns
// runs), its runs made one at a time by Spec.Run (index order: the cartesian
// product of the axes in file order, first axis slowest; Spec.Expand makes
// them all), and executed by Execute, which locks each run directory for as
// long as its command runs so that no two processes run one run: a run
// another process holds is waited for, not failed, so two runners of one
// spec share its runs and report only real failures. Shell quoting is
// Quote's.
package sweep
