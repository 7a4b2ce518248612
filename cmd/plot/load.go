package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"entangle/pkg/cli"
	"entangle/pkg/gradstat"
	"entangle/pkg/plotting"
	"entangle/pkg/runfmt"
)

// loadRuns resolves every input (runfmt.Resolve: a stream file, - for
// stdin, a run directory, or a sweep directory) and reads its runs through
// gradstat's engine into plotting's Runs. A run whose stream ends early is
// plotted up to its last complete step, with a warning.
func loadRuns(ctx context.Context, env *cli.Env, args []string, tokenPair int64) ([]*plotting.Run, error) {
	var inputs []gradstat.Input
	for _, a := range args {
		in, err := runfmt.Resolve(a)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return nil, cli.Dataf(a, "", "%v", pe.Err)
			}
			return nil, cli.Dataf(a, "", "no run found: no steps.arrows, pairs.arrows or grads.arrows below it (train -out DIR writes them)")
		}
		inputs = append(inputs, in...)
	}
	if len(inputs) == 0 {
		return nil, cli.Usagef("no runs given")
	}
	warn := func(msg string) { cli.Warnf(env.Stderr, env.Name, "%s", msg) }
	rd := plotting.NewReader(tokenPair)
	e := gradstat.NewEngine(rd.Options(warn, 10))
	open := func(p string) (io.ReadCloser, error) { return cli.OpenInput(env, p) }
	for _, in := range inputs {
		begun := len(rd.Runs)
		err := gradstat.Process(ctx, e, in, open, warn)
		if errors.Is(err, runfmt.ErrTruncated) && len(rd.Runs) > begun {
			warn(err.Error() + "; plotting the complete steps")
			rd.Runs[len(rd.Runs)-1].Truncated = err.Error()
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	return rd.Runs, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// writeFigure renders fig as PNG into dir/file.
func writeFigure(dir, file string, fig *plotting.Figure) error {
	b, err := renderPNG(fig)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return cli.Dataf(p, "", "cannot write: %v", unwrapPath(err))
	}
	return nil
}
