package sweep

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
)

// SlurmOptions are the #SBATCH settings of a job-array script; empty fields
// are left to the cluster's defaults.
type SlurmOptions struct {
	Name      string // --job-name
	Partition string // --partition
	Time      string // --time, e.g. 2:00:00
	CPUs      int    // --cpus-per-task; 0 leaves it unset
	Mem       string // --mem, e.g. 4G
	Throttle  int    // at most this many array tasks at once (%N); 0 is no limit
}

// WriteSlurm writes a bash sbatch script for the runs of g as one job array
// (--array=0-(n-1)[%Throttle]). Array task k runs run k: it exits 0 at once
// if the run is done, else records the spec in root/sweep.spec (atomically,
// as sweep run does), creates the run directory, opens its sweep.log and
// takes the run's lock on it (flock, when the flock command exists), checks
// again that the run is not done, picks the resume command when resumeIf
// exists there, and runs the command through bash -c with its output
// appended to the locked log; the task's exit status is the command's.
//
// A task whose run another process holds (a "sweep run" of the spec, the
// orphaned command of a killed runner, another submission of the script)
// is not a failure: it says so on stderr and waits for the lock, as
// Execute does, then exits 0 if the run was finished there, else runs it
// (its resume command when resumeIf exists). The wait has no bound of its
// own: the job's time limit (SlurmOptions.Time) bounds it, and a task
// killed while it waits has run nothing. A waiting task holds its
// allocation, so do not submit the array while a local runner is half-way
// through the same runs. The script runs in sbatch's
// working directory (the submission directory by default), against which
// the run directories are relative. Option values must not contain newlines.
// WriteSlurm stops with ctx's error when ctx is done.
func WriteSlurm(ctx context.Context, w io.Writer, g Grid, spec *Spec, root string, o SlurmOptions) error {
	n := g.Len()
	if n == 0 {
		return fmt.Errorf("sweep: no runs")
	}
	for _, v := range []string{o.Name, o.Partition, o.Time, o.Mem} {
		if strings.ContainsAny(v, "\n\r") {
			return fmt.Errorf("sweep: Slurm option %q contains a newline", v)
		}
	}
	if bytes.IndexByte(spec.Text, 0) >= 0 {
		return fmt.Errorf("sweep: the spec holds a NUL byte")
	}
	b := bufio.NewWriterSize(w, 1<<16)
	b.WriteString("#!/bin/bash\n")
	if o.Name != "" {
		fmt.Fprintf(b, "#SBATCH --job-name=%s\n", o.Name)
	}
	fmt.Fprintf(b, "#SBATCH --array=0-%d", n-1)
	if o.Throttle > 0 {
		fmt.Fprintf(b, "%%%d", o.Throttle)
	}
	b.WriteString("\n")
	if o.Partition != "" {
		fmt.Fprintf(b, "#SBATCH --partition=%s\n", o.Partition)
	}
	if o.Time != "" {
		fmt.Fprintf(b, "#SBATCH --time=%s\n", o.Time)
	}
	if o.CPUs > 0 {
		fmt.Fprintf(b, "#SBATCH --cpus-per-task=%d\n", o.CPUs)
	}
	if o.Mem != "" {
		fmt.Fprintf(b, "#SBATCH --mem=%s\n", o.Mem)
	}
	fmt.Fprintf(b, "# %d runs written by sweep; submit from the directory the run paths are relative to.\n", n)
	b.WriteString("set -u\n\n")
	// One pass per array keeps memory flat; each run is made again.
	for _, arr := range []string{"dirs", "cmds", "resumes"} {
		if arr == "resumes" && spec.ResumeIf == "" {
			continue
		}
		fmt.Fprintf(b, "%s=(\n", arr)
		for i := 0; i < n; i++ {
			if i%1024 == 0 && ctx.Err() != nil {
				return context.Cause(ctx)
			}
			r, err := g.Run(i)
			if err != nil {
				return err
			}
			v := r.Dir
			switch arr {
			case "cmds":
				v = r.Cmd
			case "resumes":
				v = r.Resume
			}
			fmt.Fprintf(b, "  %s\n", Quote(v))
		}
		b.WriteString(")\n")
	}
	fmt.Fprintf(b, "spec=%s\n", Quote(string(spec.Text)))
	fmt.Fprintf(b, `
i=${SLURM_ARRAY_TASK_ID:?not a Slurm array task}
case $i in ''|*[!0-9]*) i=-1 ;; esac
if [ "$i" -lt 0 ] || [ "$i" -ge %d ]; then
  echo "sweep: array task $SLURM_ARRAY_TASK_ID is not a run (0-%d)" >&2
  exit 2
fi
dir=${dirs[$i]}
cmd=${cmds[$i]}
if [ -e "$dir"/%s ]; then
  echo "sweep: run $i ($dir) is done, skipping" >&2
  exit 0
fi
root=%s
mkdir -p -- "$root" "$dir" || exit 1
tmp=$(mktemp "$root/.%s.XXXXXX") && printf '%%s' "$spec" > "$tmp" && mv -f -- "$tmp" "$root"/%s || exit 1
exec 9>>"$dir"/%s || exit 1
if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
  echo "sweep: run $i ($dir): running in another process ($dir/%s is locked); waiting for it" >&2
  flock 9 || exit 1
  if [ -e "$dir"/%s ]; then
    echo "sweep: run $i ($dir): done by the other process" >&2
    exit 0
  fi
fi
if [ -e "$dir"/%s ]; then
  echo "sweep: run $i ($dir) is done, skipping" >&2
  exit 0
fi
`, n, n-1, Quote(spec.Done), Quote(root), SpecFile, SpecFile, LogFile, LogFile, Quote(spec.Done), Quote(spec.Done))
	if spec.ResumeIf != "" {
		fmt.Fprintf(b, "if [ -e \"$dir\"/%s ]; then\n  cmd=${resumes[$i]}\nfi\n", Quote(spec.ResumeIf))
	}
	b.WriteString("bash -c \"$cmd\" </dev/null >&9 2>&9\n")
	return b.Flush()
}
