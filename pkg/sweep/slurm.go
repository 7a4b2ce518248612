package sweep

import (
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

// WriteSlurm writes a bash sbatch script for runs as one job array
// (--array=0-(n-1)[%Throttle]). Array task k runs run k: it exits 0 at once
// if the run is done, else creates the run directory, picks the resume
// command when resumeIf exists there, and runs the command through bash -c
// with output appended to the run's sweep.log; the task's exit status is
// the command's. The script runs in sbatch's working directory (the
// submission directory by default), against which the run directories are
// relative. Option values must not contain newlines.
func WriteSlurm(w io.Writer, runs []Run, done, resumeIf string, o SlurmOptions) error {
	if len(runs) == 0 {
		return fmt.Errorf("sweep: no runs")
	}
	for _, v := range []string{o.Name, o.Partition, o.Time, o.Mem} {
		if strings.ContainsAny(v, "\n\r") {
			return fmt.Errorf("sweep: Slurm option %q contains a newline", v)
		}
	}
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	if o.Name != "" {
		fmt.Fprintf(&b, "#SBATCH --job-name=%s\n", o.Name)
	}
	fmt.Fprintf(&b, "#SBATCH --array=0-%d", len(runs)-1)
	if o.Throttle > 0 {
		fmt.Fprintf(&b, "%%%d", o.Throttle)
	}
	b.WriteString("\n")
	if o.Partition != "" {
		fmt.Fprintf(&b, "#SBATCH --partition=%s\n", o.Partition)
	}
	if o.Time != "" {
		fmt.Fprintf(&b, "#SBATCH --time=%s\n", o.Time)
	}
	if o.CPUs > 0 {
		fmt.Fprintf(&b, "#SBATCH --cpus-per-task=%d\n", o.CPUs)
	}
	if o.Mem != "" {
		fmt.Fprintf(&b, "#SBATCH --mem=%s\n", o.Mem)
	}
	fmt.Fprintf(&b, "# %d runs written by sweep; submit from the directory the run paths are relative to.\n", len(runs))
	b.WriteString("set -u\n\n")
	b.WriteString("dirs=(\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "  %s\n", Quote(r.Dir))
	}
	b.WriteString(")\ncmds=(\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "  %s\n", Quote(r.Cmd))
	}
	b.WriteString(")\n")
	if resumeIf != "" {
		b.WriteString("resumes=(\n")
		for _, r := range runs {
			fmt.Fprintf(&b, "  %s\n", Quote(r.Resume))
		}
		b.WriteString(")\n")
	}
	fmt.Fprintf(&b, `
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
mkdir -p -- "$dir" || exit 1
`, len(runs), len(runs)-1, Quote(done))
	if resumeIf != "" {
		fmt.Fprintf(&b, "if [ -e \"$dir\"/%s ]; then\n  cmd=${resumes[$i]}\nfi\n", Quote(resumeIf))
	}
	fmt.Fprintf(&b, "bash -c \"$cmd\" </dev/null >>\"$dir\"/%s 2>&1\n", LogFile)
	_, err := io.WriteString(w, b.String())
	return err
}
