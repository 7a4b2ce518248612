package main

import (
	"context"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strings"

	"entangle/pkg/cli"
	"entangle/pkg/plotting"
)

var reportHelp = cli.Help{
	Synopsis: "plot report [flags] -o DIR RUN...",
	Doc: `Report writes DIR/index.html, a page that needs no network and no scripts,
with every figure the runs allow as PNG files beside it (a heatmap per run
with per-token gradients) and a table of headline figures per run: the change
of the chosen and rejected log-probs from the first to the last measurement
(held-out eval rows, else probe pairs, else training batch means), the mean
cos(g_w, g_l) and the fractions of training pairs in each predicted case.
Figures that the inputs cannot support are listed with the reason. Every
file is written atomically; index.html is written last. The path of the page
is printed on standard output.`,
	Examples: `plot report -o report runs/dpo-1t runs/dpo-long-suffix
plot report -o sweep-report sweep/ && chromium sweep-report/index.html`,
}

// section is one figure of the report: its files, or why it is missing.
type section struct {
	name, doc string
	files     []string
	titles    []string
	missing   string
}

func runReport(ctx context.Context, env *cli.Env, args []string) error {
	var f flags
	fs := newFlags("plot report", &f, "output `directory` (created if needed)")
	if err := cli.Parse(env, fs, reportHelp, args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	if f.out == "" || f.out == "-" {
		return cli.Usagef("-o DIR is required")
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return cli.Dataf(f.out, "", "cannot create the report directory: %v", unwrapPath(err))
	}
	if err := checkWritable(f.out); err != nil {
		return err
	}
	l := &loader{env: env, tokenPair: f.pair}
	if err := l.load(ctx, cli.Inputs(fs)); err != nil {
		return err
	}
	var secs []section
	for _, fig := range figures {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := section{name: fig.name, doc: fig.doc}
		if fig.name == "heatmap" {
			// One image per run: each run's first and last dump steps.
			var reasons []string
			for i, r := range l.runs {
				d, err := heatmapData([]*runData{r}, f.o)
				if err != nil {
					reasons = append(reasons, err.Error())
					continue
				}
				file := fmt.Sprintf("heatmap-%d.png", i+1)
				if err := writeFigure(f.out, file, plotting.TokenHeatmaps(d)); err != nil {
					return err
				}
				s.files, s.titles = append(s.files, file), append(s.titles, r.name)
			}
			if len(s.files) == 0 && len(reasons) > 0 {
				s.missing = reasons[0]
			}
		} else {
			fg, err := buildFigure(fig.name, l.runs, f.o)
			if err != nil {
				s.missing = err.Error()
			} else {
				file := fig.name + ".png"
				if err := writeFigure(f.out, file, fg); err != nil {
					return err
				}
				s.files, s.titles = []string{file}, []string{""}
			}
		}
		secs = append(secs, s)
	}
	page := reportHTML(l.runs, headlines(l.runs), secs)
	index := filepath.Join(f.out, "index.html")
	if err := cli.WriteFileAtomic(index, []byte(page)); err != nil {
		return cli.Dataf(index, "", "cannot write: %v", unwrapPath(err))
	}
	fmt.Fprintln(env.Stdout, index)
	return nil
}

// checkWritable fails early, before reading any input, when dir does not
// accept files.
func checkWritable(dir string) error {
	t, err := os.CreateTemp(dir, ".plot-check*")
	if err != nil {
		return cli.Dataf(dir, "", "cannot write in the report directory: %v", unwrapPath(err))
	}
	t.Close()
	return os.Remove(t.Name())
}

func writeFigure(dir, file string, fig *plotting.Figure) error {
	b, err := renderPNG(fig)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, file)
	if err := cli.WriteFileAtomic(p, b); err != nil {
		return cli.Dataf(p, "", "cannot write: %v", unwrapPath(err))
	}
	return nil
}

// num formats a table number; NaN is an en dash.
func num(v float64, format string) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

// reportHTML renders the page: static HTML and inline CSS only.
func reportHTML(runs []*runData, hs []headline, secs []section) string {
	e := html.EscapeString
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>entangle report</title>
<style>
body{font-family:sans-serif;margin:1.5em auto;max-width:1500px;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:0.9em;margin:1em 0}
th,td{border:1px solid #bbb;padding:0.25em 0.6em;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#eee}
img{max-width:100%;height:auto;border:1px solid #ddd;display:block;margin:0.5em 0}
.missing{color:#8a4b00}
code{font-size:0.95em}
</style></head><body>
<h1>entangle report</h1>
`)
	fmt.Fprintf(&b, "<p>%d run(s). Figures follow the paper (Yuan et al. 2024, arXiv 2410.13828); every number below is computed from the runs' own Arrow outputs.</p>\n", len(runs))
	b.WriteString("<h2>Headline figures</h2>\n<table>\n<tr><th>run</th><th>run id</th><th>loss</th><th>steps</th><th>pair rows</th>" +
		"<th>Δ log π chosen (nats)</th><th>Δ log π rejected (nats)</th><th>Δ from</th><th>mean cos(g_w,g_l)</th>" +
		"<th>case 1 ideal</th><th>case 2 both fall</th><th>case 3 both rise</th><th>other</th></tr>\n")
	for _, h := range hs {
		fmt.Fprintf(&b, "<tr><td>%s</td><td><code>%s</code></td><td>%s</td><td>%d</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>",
			e(h.name), e(h.runID), e(h.loss), h.steps, h.pairRows, num(h.dChosen, "%+.4g"), num(h.dRejected, "%+.4g"), e(h.dSource), num(h.meanCos, "%.3f"))
		for k := 0; k < 4; k++ {
			v := math.NaN()
			if h.nCases > 0 {
				v = 100 * h.cases[k]
			}
			fmt.Fprintf(&b, "<td>%s</td>", num(v, "%.1f%%"))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n<p>Δ: last minus first measurement. Cases: predicted to first order from ⟨g_w,g_l⟩, ‖g_w‖², ‖g_l‖² and the loss coefficients applied, over every training pair row.</p>\n")
	b.WriteString("<h2>Runs</h2>\n<ul>\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "<li><b>%s</b>: %s", e(r.name), e(strings.Join(r.sources, ", ")))
		if len(r.truncated) > 0 {
			fmt.Fprintf(&b, " <span class=\"missing\">(truncated: %s; the complete steps are shown)</span>", e(strings.Join(r.truncated, ", ")))
		}
		b.WriteString("</li>\n")
	}
	b.WriteString("</ul>\n")
	for _, s := range secs {
		fmt.Fprintf(&b, "<h2 id=\"%s\">%s</h2>\n<p>%s</p>\n", e(s.name), e(s.name), e(s.doc))
		if s.missing != "" {
			fmt.Fprintf(&b, "<p class=\"missing\">Not available: %s.</p>\n", e(s.missing))
		}
		for i, file := range s.files {
			if s.titles[i] != "" {
				fmt.Fprintf(&b, "<h3>%s</h3>\n", e(s.titles[i]))
			}
			fmt.Fprintf(&b, "<img src=\"%s\" alt=\"%s\">\n", e(file), e(s.name+" "+s.titles[i]))
		}
	}
	b.WriteString("</body></html>\n")
	return b.String()
}
