// Gradstat computes gradient-entanglement statistics from train's outputs:
// per pair, per step, per parameter group and per token, from run
// directories, sweep directories or streams (docs/FORMATS.md).
//
// Usage:
//
//	gradstat [flags] [run.arrows|DIR|-]...
//
// Run "gradstat -h" for the flags and examples.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"entangle/pkg/cli"
	"entangle/pkg/gradstat"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
)

func main() { os.Exit(cli.Main("gradstat", run)) }

var help = cli.Help{
	Synopsis: "gradstat [flags] [run.arrows|DIR|-]...",
	Doc: `Gradstat reads train's outputs and computes the gradient-entanglement
statistics of the paper: for every preference pair ⟨g_w,g_l⟩, the norms, cos,
the norm and chosen/rejected ratios, R = ⟨g_w,g_l⟩/min(‖g_w‖²,‖g_l‖²), the
paper's case (1 ideal, 2 both fall, 3 both rise) and the case for the loss's own
weights, the first-order predictions and, for probe pairs, how well they match
the observed log-prob changes, and CHES. Inputs are pairs/grads/steps streams
(files or stdin), run directories (their .arrows files read in lockstep) or
sweep directories (every run below, labelled by the key=value parts of its
path). One pass, one step in memory. -table chooses the table: steps (per step
and kind: distributions, case fractions, batch figures), pairs, groups (per
parameter group), tokens (per-token cosine matrix, from -token-grads dumps),
attrib (per probe and training pair, the pair's share of the probe's
first-order change, from train -attrib), tokensum (the tokens table's summary
rows), mass (per probe step, over all runs: mean p_w, p_l, p_w + p_l and cos),
attriblabel (attrib's contributions split by whether the training pair's label
is the probe's; labels from -data) or runs: one row per run with its sweep labels (one column per key) and
headline figures: first/last/change of the mean chosen and rejected log-probs
and margin (train and probe rows), cos first/last/mean, pooled case fractions
(paper and loss-aware), the fraction of pair-steps whose chosen log-prob fell
(observed; and predicted to first order), and on probes the first-order
agreement (fo_corr_w/l, fo_relerr_w/l_mean) and fo_wrong_way, the count of
probe pair-steps whose predicted margin change was negative (docs/FORMATS.md
lists every column). -by KEYS aggregates the runs over seeds (mean, sd, min,
max, n per numeric column); -format md writes a markdown table (mean ± sd).
Output is an Arrow stream (an Arrow file with -o FILE), tsv/csv/jsonl with
-format, or with -summary an aligned table per run with the headline figures.
Warnings (zero norms, NaN, groups not adding up) go to stderr; a bad or
truncated input stops with "file:step N: ..." and exit 1 after writing what
was computed.`,
	Examples: `train -mode pref -init runs/sft/model.safetensors -probe 8 -dump-every 10 -out runs/1t 1t.arrow && gradstat -summary runs/1t
gradstat -table pairs -format tsv runs/1t | head
gradstat -table tokens -o tokens.arrow runs/long
gradstat -summary -every 10 sweeps/loss-cmp
gradstat -table runs -format tsv sweeps/loss-cmp
gradstat -by task,loss -format md -cols task,loss,runs,probe_margin_delta,fo_wrong_way sweeps/loss-cmp
train -mode pref -init runs/sft/model.safetensors -q -out runs/pipe -o - 1t.arrow | gradstat -format csv > steps.csv`,
}

func run(ctx context.Context, env *cli.Env) error {
	fs := cli.NewFlagSet("gradstat")
	table := fs.String("table", gradstat.TableSteps, "`table`: "+strings.Join(gradstat.Tables, ", "))
	format := fs.String("format", "arrow", "output `format`: arrow, tsv, csv, jsonl or md (GitHub markdown table)")
	by := fs.String("by", "", "-table runs: aggregate the runs sharing the values of these comma-separated label `keys` (e.g. task,loss): mean, sd, min, max, n of every numeric column, groups in order of first appearance (implies -table runs)")
	slope := fs.String("slope", "", "-table runs: instead of means, fit per -by group the slope of ln|Y| against ln of this numeric label `key` (e.g. lr) for every numeric column Y, as Y_slope (the exponent of |Y| ∝ key^k; implies -table runs)")
	colsFlag := fs.String("cols", "", "-table runs: keep only these comma-separated `columns` (with -by, a column name selects its mean/sd/min/max/n)")
	summary := fs.Bool("summary", false, "print a human-readable table per run instead")
	every := fs.Int("every", 1, "-summary: print every `N`th step (and the last)")
	out := fs.String("o", "-", "output `file` (Arrow: an IPC file; - is stdout, an IPC stream)")
	maxWarn := fs.Int("max-warnings", 100, "print at most `N` warning lines per run (the rest are counted)")
	quiet := fs.Bool("q", false, "no warnings on stderr")
	data := fs.String("data", "", "-table attriblabel: each run's prefdata `dataset`, {key} standing for the value of key in the run's label (e.g. data/task={task}/seed={seed}/data.arrow); an example's label is its chosen response's first token")
	if err := cli.Parse(env, fs, help, env.Args); err != nil {
		return err
	}
	tableSet := false
	fs.Visit(func(f *flag.Flag) { tableSet = tableSet || f.Name == "table" })
	if *by != "" || *colsFlag != "" || *slope != "" {
		if tableSet && *table != gradstat.TableRuns {
			return cli.Usagef("-by, -slope and -cols apply to -table runs only")
		}
		*table = gradstat.TableRuns
	}
	cols := gradstat.ColumnsOf(*table)
	if cols == nil {
		return cli.Usagef("unknown -table %q (%s)", *table, strings.Join(gradstat.Tables, ", "))
	}
	if !slices.Contains([]string{"arrow", "tsv", "csv", "jsonl", "md"}, *format) {
		return cli.Usagef("unknown -format %q (arrow, tsv, csv, jsonl or md)", *format)
	}
	if (*data != "") != (*table == gradstat.TableAttribLabel) {
		return cli.Usagef("-data and -table attriblabel go together")
	}
	if *summary && *table == gradstat.TableRuns {
		return cli.Usagef("-summary and -table runs are exclusive")
	}
	if *every < 1 {
		return cli.Usagef("-every must be at least 1, got %d", *every)
	}
	var inputs []gradstat.Input
	stdin := 0
	for _, a := range cli.Inputs(fs) {
		in, err := runfmt.Resolve(a)
		if err != nil {
			return cli.Usagef("%v", err)
		}
		if a == "-" {
			stdin++
		}
		inputs = append(inputs, in...)
	}
	if stdin > 1 {
		return cli.Usagef("standard input (-) given %d times", stdin)
	}
	binary := *format == "arrow" && !*summary
	if binary && (*out == "-" || *out == "") && cli.IsTerminal(env.Stdout) {
		return cli.Usagef("refusing to write Arrow to a terminal; use -format tsv, -summary, or -o FILE")
	}
	var files []string
	for _, in := range inputs {
		files = append(files, in.Files...)
	}
	if err := cli.CheckOutput(env, *out, files...); err != nil {
		return err
	}
	// Every input's header is read before the output is created: a bad input
	// leaves nothing on stdout (an Arrow schema or a text header) and no file.
	open := func(path string) (io.ReadCloser, error) { return cli.OpenInput(env, path) }
	runs, open, err := gradstat.RunsMetadata(inputs, open)
	if err != nil {
		return err
	}
	o, err := cli.CreateOutput(env, *out, binary, files...)
	if err != nil {
		return err
	}
	defer o.Abort()
	opt := gradstat.Options{Table: gradstat.BaseTable(*table), MaxWarnings: *maxWarn}
	if !*quiet {
		opt.Warn = func(msg string) { cli.Warnf(env.Stderr, env.Name, "%s", msg) }
	}
	meta := map[string]string{"format": gradstat.FormatName(*table), "format_version": gradstat.FormatVersion, "producer": "gradstat", "table": *table, "runs": runs}
	if *by != "" {
		meta["by"] = *by
	}
	if *slope != "" {
		meta["slope"] = *slope
	}
	newSink := func(cols []gradstat.Column) (gradstat.Sink, error) {
		switch {
		case binary && o.IsStdout():
			return gradstat.NewArrowStreamSink(o, cols, meta), nil
		case binary:
			return gradstat.NewArrowFileSink(o.File(), cols, meta)
		case *format == "md":
			return gradstat.NewMarkdownSink(o, cols, gradstat.MarkdownLayout(*table)), nil
		default:
			return gradstat.NewTextSink(o, *format, cols)
		}
	}
	var collector *gradstat.RunCollector
	switch {
	case *summary:
		opt.Collectors = []gradstat.Collector{gradstat.NewSummaryWriter(o, *every)}
	case *table == gradstat.TableRuns:
		collector = gradstat.NewRunCollector()
		opt.Collectors = []gradstat.Collector{collector}
	default:
		if opt.Sink, err = newSink(cols); err != nil {
			return err
		}
		opt.Sink = gradstat.DerivedSink(*table, opt.Sink, chosenLabels(env, *data))
	}
	e := gradstat.NewEngine(opt)
	var first error
	for _, in := range inputs {
		err := gradstat.Process(ctx, e, in, open, opt.Warn)
		if err != nil {
			if first != nil {
				cli.Warnf(env.Stderr, env.Name, "%v", err)
				continue
			}
			first = err
		}
	}
	if collector != nil {
		if err := writeRuns(collector, splitList(*by), *slope, splitList(*colsFlag), newSink); err != nil {
			return err
		}
	}
	if opt.Sink != nil {
		if err := opt.Sink.Close(); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first // the deferred Abort keeps an existing -o file as it was
	}
	if err := o.Commit(); err != nil && !cli.ErrClosedPipe(err) {
		return err
	}
	return nil
}

// chosenLabels returns the labels of -table attriblabel: the first token of
// each example's chosen response, from the dataset the template names for
// the run (each dataset read once).
func chosenLabels(env *cli.Env, template string) gradstat.LabelFunc {
	sets := map[string]map[int64]int32{}
	return func(run string, id int64) (int32, error) {
		path := template
		for _, kv := range strings.Split(run, "/") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				path = strings.ReplaceAll(path, "{"+k+"}", v)
			}
		}
		if i := strings.Index(path, "{"); i >= 0 && strings.Contains(path[i:], "}") {
			return 0, cli.Usagef("-data %s: run %s has no key for %s", template, run, path[i:strings.Index(path[i:], "}")+i+1])
		}
		labels, ok := sets[path]
		if !ok {
			r, err := cli.OpenInput(env, path)
			if err != nil {
				return 0, err
			}
			d, err := prefdata.Read(r, path)
			r.Close()
			if err != nil {
				return 0, err
			}
			labels = make(map[int64]int32, len(d.Examples))
			for _, ex := range d.Examples {
				if len(ex.Chosen) > 0 {
					labels[ex.ID] = ex.Chosen[0]
				}
			}
			sets[path] = labels
		}
		l, ok := labels[id]
		if !ok {
			return 0, fmt.Errorf("%s: no example %d with a chosen response (run %s)", path, id, run)
		}
		return l, nil
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// writeRuns writes the runs table (aggregated with -by, selected with
// -cols). Runs that stopped on a data error keep the row of what was read.
func writeRuns(rc *gradstat.RunCollector, by []string, slope string, keep []string, newSink func([]gradstat.Column) (gradstat.Sink, error)) error {
	b := rc.Table()
	var err error
	if slope != "" {
		if b, err = gradstat.Slopes(b, by, slope); err != nil {
			return cli.Usagef("%v", err)
		}
	} else if len(by) > 0 {
		if b, err = gradstat.Aggregate(b, by); err != nil {
			return cli.Usagef("%v", err)
		}
	}
	if len(keep) > 0 {
		if b, err = gradstat.Select(b, keep); err != nil {
			return cli.Usagef("%v", err)
		}
	}
	sink, err := newSink(b.Cols)
	if err != nil {
		return err
	}
	if err := sink.Write(b); err != nil {
		return err
	}
	return sink.Close()
}
