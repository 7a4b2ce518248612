// Sweep expands a declarative sweep spec (docs/FORMATS.md, "Sweep spec")
// into one command per run, each run in its own key=value/... directory,
// and lists, runs or schedules them.
//
// Usage:
//
//	sweep list [-root DIR] SPEC
//	sweep expand [-root DIR] [-todo] [-log] SPEC
//	sweep run [-root DIR] [-j N] [-force] [-dry-run] [-q] SPEC
//	sweep slurm [-root DIR] [-j N] [-partition P] [-time T] [-cpus C] [-mem M] [-name NAME] SPEC > job.sh
//
// Run "sweep -h" for the details and examples.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"entangle/pkg/cli"
	"entangle/pkg/sweep"
)

func main() { os.Exit(cli.Main("sweep", run)) }

var help = cli.Help{
	Synopsis: `sweep list [-root DIR] SPEC
       sweep expand [-root DIR] [-todo] [-log] SPEC
       sweep run [-root DIR] [-j N] [-force] [-dry-run] [-q] SPEC
       sweep slurm [-root DIR] [-j N] [-partition P] [-time T] [-cpus C] [-mem M] [-name NAME] SPEC > job.sh`,
	Doc: `Sweep expands a spec (axis, set, cmd, resume, root and done lines; see
docs/FORMATS.md) into the cartesian product of its axes, first axis slowest:
run k has index k and directory ROOT/key=value/key=value/..., the hive layout
that pyarrow, polars and Spark read as partitions. ROOT is the spec's root line,
or -root; relative paths are relative to the current directory. A run is done
when its directory holds the done file (DONE by default, which train writes
last). "list" prints a TSV of runs with their status; "expand" prints one
shell command per run, for xargs or GNU parallel; "run" runs the runs that are
not done, at most -j at once, each through bash -c with its output appended to
DIR/sweep.log, skipping done runs so an interrupted sweep resumes, and records
the spec in ROOT/sweep.spec; a failed run is reported and the others go on
(exit 1 at the end). A run's sweep.log is locked while its command runs (even
after the runner was killed): a run that another process still runs (a
second "sweep run" of the spec) is not a failure: sweep says so, goes on with
the other runs and waits for it, then skips it if it was finished there or
runs it (resumes it) if not. A grid has at most 1000000 runs; list, expand and
slurm write them one at a time. ^C or SIGTERM is forwarded to the running commands (train
then writes a checkpoint, which a "resume" line picks up next time), and the
sweep exits 1 once they have ended. Keep -j times each run's own threads at or
below the number of cores (train uses GOMAXPROCS threads: set GOMAXPROCS=1 in
the command for -j 2 on two cores). "slurm" prints an sbatch job-array script
of the same runs; its tasks take the same locks and wait the same way (bounded
only by the job's -time), then exit 0 for a run done by the other process.`,
	Examples: `sweep list losses.sweep
sweep run -j 2 losses.sweep
sweep run -dry-run -root /tmp/try losses.sweep
sweep expand -todo -log losses.sweep | parallel -j 2
sweep expand -todo -log losses.sweep | xargs -d '\n' -P 2 -I CMD bash -c CMD
sweep slurm -j 8 -time 1:00:00 -cpus 2 -mem 4G losses.sweep > losses.sh && sbatch losses.sh`,
}

func run(ctx context.Context, env *cli.Env) error {
	if len(env.Args) == 0 {
		return cli.Usagef("missing subcommand: list, expand, run or slurm (see sweep -h)")
	}
	fs := cli.NewFlagSet("sweep")
	switch env.Args[0] {
	case "-h", "-help", "--help":
		cli.WriteHelp(env.Stdout, fs, help)
		return cli.ErrHelp
	case "list", "expand", "run", "slurm":
	default:
		return cli.Usagef("unknown subcommand %q: list, expand, run or slurm (see sweep -h)", env.Args[0])
	}
	sub := env.Args[0]
	root := fs.String("root", "", "sweep root `directory` (overrides the spec's root line)")
	var jobs *int
	switch sub {
	case "run":
		jobs = fs.Int("j", 1, "at most `N` runs at once")
	case "slurm":
		jobs = fs.Int("j", 0, "at most `N` array tasks at once (0: no limit)")
	}
	todo := fs.Bool("todo", false, "expand: only the runs that are not done")
	wrap := fs.Bool("log", false, "expand: wrap each command to create its directory and append its output to sweep.log")
	force := fs.Bool("force", false, "run: rerun done runs too")
	dry := fs.Bool("dry-run", false, "run: print the commands that would run, run nothing")
	quiet := fs.Bool("q", false, "run: no progress on stderr")
	var so sweep.SlurmOptions
	fs.StringVar(&so.Partition, "partition", "", "slurm: `partition`")
	fs.StringVar(&so.Time, "time", "", "slurm: time limit per run, e.g. 2:00:00")
	fs.IntVar(&so.CPUs, "cpus", 0, "slurm: `CPUs` per run")
	fs.StringVar(&so.Mem, "mem", "", "slurm: memory per run, e.g. 4G")
	fs.StringVar(&so.Name, "name", "", "slurm: job `name` (default: the spec's file name without extension)")
	if err := cli.Parse(env, fs, help, env.Args[1:]); err != nil {
		return err
	}
	// Reject flags that belong to another subcommand, rather than ignore them.
	only := map[string]string{"todo": "expand", "log": "expand", "force": "run", "dry-run": "run", "q": "run",
		"partition": "slurm", "time": "slurm", "cpus": "slurm", "mem": "slurm", "name": "slurm"}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		if s, ok := only[f.Name]; ok && s != sub && bad == nil {
			bad = cli.Usagef("-%s is a flag of sweep %s, not sweep %s", f.Name, s, sub)
		}
	})
	if bad != nil {
		return bad
	}
	if fs.NArg() != 1 {
		return cli.Usagef("sweep %s wants one spec file, got %d arguments", sub, fs.NArg())
	}
	if jobs != nil && (*jobs < 0 || sub == "run" && *jobs < 1) {
		return cli.Usagef("-j must be at least 1 (0 for slurm: no limit), got %d", *jobs)
	}
	specPath := fs.Arg(0)
	f, err := os.Open(specPath)
	if err != nil {
		return err
	}
	spec, err := sweep.Parse(specPath, f)
	f.Close()
	if err != nil {
		return err
	}
	if *root == "" {
		*root = spec.Root
	}
	if *root == "" {
		return cli.Usagef("%s has no root line and no -root was given", specPath)
	}
	g := sweep.SpecGrid(spec, *root)
	switch sub {
	case "list":
		return list(ctx, env, spec, g)
	case "expand":
		return expand(ctx, env, spec, g, *todo, *wrap)
	case "slurm":
		so.Throttle = *jobs
		if so.Name == "" {
			so.Name = strings.TrimSuffix(filepath.Base(specPath), filepath.Ext(specPath))
		}
		for _, v := range []string{so.Name, so.Partition, so.Time, so.Mem} {
			if strings.ContainsAny(v, " \t\n\r") {
				return cli.Usagef("slurm option %q contains whitespace", v)
			}
		}
		if so.CPUs < 0 {
			return cli.Usagef("-cpus must not be negative, got %d", so.CPUs)
		}
		out := bufio.NewWriterSize(env.Stdout, 1<<16)
		if err := sweep.WriteSlurm(ctx, out, g, spec, *root, so); err != nil {
			if ctx.Err() != nil {
				return cli.Interrupted(ctx)
			}
			return err
		}
		return out.Flush()
	}
	return runAll(ctx, env, spec, *root, g, *jobs, *force, *dry, *quiet)
}

// eachRun calls fn on every run of g in index order, stopping at the first
// error or when ctx is done (^C, SIGTERM).
func eachRun(ctx context.Context, g sweep.Grid, fn func(r sweep.Run) error) error {
	for i := 0; i < g.Len(); i++ {
		if err := cli.Interrupted(ctx); err != nil {
			return err
		}
		r, err := g.Run(i)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// list prints index, dir, status and the axis values of every run as TSV,
// one line at a time.
func list(ctx context.Context, env *cli.Env, spec *sweep.Spec, g sweep.Grid) error {
	b := bufio.NewWriterSize(env.Stdout, 1<<16)
	b.WriteString("index\tdir\tstatus")
	for _, k := range spec.Keys() {
		b.WriteString("\t" + k)
	}
	b.WriteString("\n")
	err := eachRun(ctx, g, func(r sweep.Run) error {
		status := "todo"
		if sweep.IsDone(r, spec.Done) {
			status = "done"
		}
		fmt.Fprintf(b, "%d\t%s\t%s", r.Index, r.Dir, status)
		for _, p := range r.Params {
			b.WriteString("\t" + p.Value)
		}
		_, err := b.WriteString("\n")
		return err
	})
	if ferr := b.Flush(); err == nil {
		err = ferr
	}
	return err
}

// expand prints one shell command line per run, in index order.
func expand(ctx context.Context, env *cli.Env, spec *sweep.Spec, g sweep.Grid, todo, wrap bool) error {
	b := bufio.NewWriterSize(env.Stdout, 1<<16)
	err := eachRun(ctx, g, func(r sweep.Run) error {
		if todo && sweep.IsDone(r, spec.Done) {
			return nil
		}
		line := r.Cmd
		if wrap {
			d := sweep.Quote(r.Dir)
			line = fmt.Sprintf("mkdir -p %s && { %s ; } </dev/null >>%s/%s 2>&1", d, r.Cmd, d, sweep.LogFile)
		}
		_, err := b.WriteString(line + "\n")
		return err
	})
	if ferr := b.Flush(); err == nil {
		err = ferr
	}
	return err
}

// runAll runs the runs that are not done and reports failures.
func runAll(ctx context.Context, env *cli.Env, spec *sweep.Spec, root string, g sweep.Grid, jobs int, force, dry, quiet bool) error {
	todo := 0
	var b *bufio.Writer
	if dry {
		b = bufio.NewWriterSize(env.Stdout, 1<<16)
	}
	err := eachRun(ctx, g, func(r sweep.Run) error {
		if force || !sweep.IsDone(r, spec.Done) {
			todo++
			if dry {
				b.WriteString(r.Cmd + "\n")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if dry {
		fmt.Fprintf(env.Stderr, "sweep: %d of %d runs to do\n", todo, g.Len())
		return b.Flush()
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	copyPath := filepath.Join(root, sweep.SpecFile)
	if old, err := os.ReadFile(copyPath); err == nil && !bytes.Equal(old, spec.Text) {
		cli.Warnf(env.Stderr, env.Name, "%s differs from %s; replacing the recorded spec", copyPath, spec.File)
	}
	if err := cli.WriteFileAtomic(copyPath, spec.Text); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 2)
	if env.Stdin == os.Stdin { // the real process, not an in-process test
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
	}
	prog := cli.NewProgress(env.Stderr, todo, quiet, 0)
	ended, failed := 0, 0
	opt := sweep.Options{
		Jobs: jobs, Force: force, Done: spec.Done, Signals: sigs,
		Finish: func(r sweep.Run, err error) {
			ended++
			if err != nil {
				if !errors.Is(err, sweep.ErrInterrupted) {
					failed++
				}
				fmt.Fprintf(env.Stderr, "%s: run %d (%s): %s, see %s\n", env.Name, r.Index, r.Name(), sweep.ExitText(err), filepath.Join(r.Dir, sweep.LogFile))
			}
			prog.Update(ended, fmt.Sprintf("runs (%d failed)", failed))
		},
		Wait: func(r sweep.Run, done bool) {
			if done {
				ended++
				fmt.Fprintf(env.Stderr, "%s: run %d (%s): done by the other process\n", env.Name, r.Index, r.Name())
				prog.Update(ended, fmt.Sprintf("runs (%d failed)", failed))
				return
			}
			fmt.Fprintf(env.Stderr, "%s: run %d (%s): running in another process (%s is locked); waiting for it\n",
				env.Name, r.Index, r.Name(), filepath.Join(r.Dir, sweep.LogFile))
		},
	}
	prog.Update(0, "runs")
	sum, err := sweep.Execute(ctx, g, spec.ResumeIf, opt)
	if errors.Is(err, sweep.ErrInterrupted) {
		return fmt.Errorf("interrupted after %d of %d runs ended (%d failed); rerun to resume", ended, todo, failed)
	}
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d runs failed", sum.Failed, todo)
	}
	return nil
}
