// Plot draws the figures of the entangle toolkit from train's run outputs
// (steps.arrows, pairs.arrows, grads.arrows; docs/FORMATS.md) and writes a
// self-contained HTML report of a run or a sweep.
//
// Usage:
//
//	plot FIGURE [flags] RUN... -o out.png|out.svg|out.pdf
//	plot report [flags] -o DIR RUN...
//
// FIGURE is one of dynamics, entanglement, plane, cases, groups, heatmap,
// firstorder; RUN is a run directory (train -out DIR), a stream file, - for
// standard input, or a sweep directory (every run directory below it,
// labelled by the key=value parts of its path). Run "plot -h" for the flags.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"entangle/pkg/cli"
	"entangle/pkg/plotting"
)

func main() { os.Exit(cli.Main("plot", run)) }

// figures lists the figure names in report order, with a one-line summary.
var figures = []struct{ name, doc string }{
	{"dynamics", "chosen and rejected log-probs and their difference over steps, train and held-out (paper Fig. 1)"},
	{"entanglement", "cos and inner product of g_w, g_l over steps: median and q25-q75 band per run (Figs. 3, 4a)"},
	{"plane", "condition plane: each pair at (chosen ratio, rejected ratio), case regions shaded (§3.1.1)"},
	{"cases", "stacked fractions of pairs in case 1 (ideal), 2 (both fall), 3 (both rise) over steps"},
	{"groups", "share of <g_w,g_l>, ||g_w||², ||g_l||² per parameter group over steps"},
	{"heatmap", "chosen x rejected per-token gradient cosines of a probe pair (Fig. 4b)"},
	{"firstorder", "predicted <g,Δθ> vs observed change of log π_w, log π_l for probe pairs, with y = x"},
}

func figureList() string {
	var b strings.Builder
	for _, f := range figures {
		fmt.Fprintf(&b, "  %-13s %s\n", f.name, f.doc)
	}
	return b.String()
}

var topHelp = cli.Help{
	Synopsis: "plot FIGURE [flags] RUN... -o out.png|out.svg|out.pdf\n       plot report [flags] -o DIR RUN...",
	Doc: `Plot draws the paper's figures from train's outputs. RUN is a run directory
(train -out DIR), a steps/pairs/grads .arrows stream, - (stdin), or a sweep
directory (every run below it, named by the key=value parts of its path);
several runs are overlaid, each named by its label (the key=value parts of
its path joined by /, else the path given), as gradstat names it.
In a sweep, runs that differ only in the keys left out of -by (by default
only in their seed) form one group: the dynamics, entanglement and cases
figures draw the group's mean with a min-max band over its runs.
The format follows the output's extension (.png, .svg, .pdf). "plot report"
writes DIR/index.html with every figure the runs allow (PNG files beside
it, no scripts, no network) and a table of headline figures.
Figures:
` + figureList(),
	Examples: `plot dynamics runs/dpo-1t runs/dpo-long -o dynamics.png
plot heatmap -step 40 runs/dpo-long/grads.arrows -o heat.svg
plot dynamics -by task,loss sweeps/losses -o losses.png   # mean and min-max band over seeds
plot report -o report sweeps/losses`,
}

// flags are the flags shared by the figure commands and report.
type flags struct {
	out  string
	o    plotting.Select
	pair int64
}

func newFlags(name string, f *flags, outDoc string) *flag.FlagSet {
	fs := cli.NewFlagSet(name)
	fs.StringVar(&f.out, "o", "", outDoc)
	fs.Int64Var(&f.o.Step, "step", -1, "`step` of the heatmap (dump step; default the first and last) and of the condition plane (default all)")
	fs.Int64Var(&f.pair, "pair", -1, "probe `pair` id of the heatmap (default the first pair with per-token rows)")
	fs.StringVar(&f.o.By, "by", plotting.DefaultBy, "comma-separated label `keys`: runs sharing their values are one group in the dynamics, entanglement and cases figures (mean line, min–max band over the group's runs); default every label except seed")
	fs.StringVar(&f.o.Kind, "kind", "", "condition-plane rows: `train` or probe (default train when present)")
	fs.BoolVar(&f.o.Relative, "relative", false, "dynamics: plot each run's change since its first step instead of the log-probs (runs that start far apart become comparable)")
	return fs
}

func run(ctx context.Context, env *cli.Env) error {
	if len(env.Args) == 0 {
		return cli.Usagef("no figure given (one of %s, or report)", names())
	}
	switch a := env.Args[0]; {
	case a == "-h" || a == "-help" || a == "--help":
		var f flags
		cli.WriteHelp(env.Stdout, newFlags("plot", &f, "output `file` (.png, .svg or .pdf), or directory for report"), topHelp)
		return cli.ErrHelp
	case a == "report":
		return runReport(ctx, env, env.Args[1:])
	case isFigure(a):
		return runFigure(ctx, env, a, env.Args[1:])
	default:
		return cli.Usagef("unknown figure %q (one of %s, or report)", a, names())
	}
}

func names() string {
	var n []string
	for _, f := range figures {
		n = append(n, f.name)
	}
	return strings.Join(n, ", ")
}

func isFigure(name string) bool {
	for _, f := range figures {
		if f.name == name {
			return true
		}
	}
	return false
}

func runFigure(ctx context.Context, env *cli.Env, name string, args []string) error {
	var f flags
	fs := newFlags("plot "+name, &f, "output `file` (.png, .svg or .pdf)")
	h := topHelp
	h.Synopsis = "plot " + name + " [flags] RUN... -o out.png|out.svg|out.pdf"
	if err := cli.Parse(env, fs, h, args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	if f.out == "" || f.out == "-" {
		return cli.Usagef("-o FILE is required (.png, .svg or .pdf)")
	}
	format, err := plotting.FormatOf(f.out)
	if err != nil {
		return cli.Usagef("%v", err)
	}
	o, err := cli.CreateOutput(env, f.out, true)
	if err != nil {
		return cli.Dataf(f.out, "", "cannot write: %v", unwrapPath(err))
	}
	defer o.Abort()
	runs, err := loadRuns(ctx, env, cli.Inputs(fs), f.pair)
	if err != nil {
		return err
	}
	fig, err := plotting.Build(name, runs, f.o)
	if err != nil {
		return err
	}
	if err := fig.Render(o, format); err != nil {
		return err
	}
	return o.Commit()
}

func (f *flags) check() error {
	if f.o.Kind != "" && f.o.Kind != "train" && f.o.Kind != "probe" {
		return cli.Usagef("-kind %q: want train or probe", f.o.Kind)
	}
	return nil
}

// renderPNG renders fig to PNG bytes.
func renderPNG(fig *plotting.Figure) ([]byte, error) {
	var b bytes.Buffer
	err := fig.Render(&b, "png")
	return b.Bytes(), err
}
