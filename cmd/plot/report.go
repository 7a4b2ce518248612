package main

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"os"
	"path/filepath"

	"entangle/pkg/cli"
	"entangle/pkg/gradstat"
	"entangle/pkg/plotting"
	"entangle/pkg/runfmt"
)

var reportHelp = cli.Help{
	Synopsis: "plot report [flags] -o DIR RUN...",
	Doc: `Report writes DIR/index.html, a page that needs no network and no scripts,
with every figure the runs allow as PNG files beside it (a heatmap per run
with per-token gradients) and, per kind of pairs (held-out probe pairs,
training pairs), a table of each run's headline figures: gradstat's, under
the names of its runs table (gradstat -table runs) and as gradstat -summary
prints them. Figures that the inputs cannot support are listed with the
reason. The page is built in a temporary directory beside DIR and moved
into place only when it is complete; other files of an existing DIR are
left alone. DIR may not be a run directory nor one of the inputs (a sweep
directory): the report's files would mix with the run's; write it beside
them (plot report -o runs/dpo-report runs/dpo). The path of the page is
printed on standard output.`,
	Examples: `plot report -o report runs/dpo-1t runs/dpo-long
plot report -o sweep-report sweeps/losses && chromium sweep-report/index.html`,
}

// section is one figure of the report: its files, or why it is missing.
type section struct {
	Name, Doc string
	Files     []string
	Titles    []string
	Missing   string
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
	if err := checkReportDir(f.out, cli.Inputs(fs)); err != nil {
		return err
	}
	if st, err := os.Stat(f.out); err == nil && !st.IsDir() {
		return cli.Dataf(f.out, "", "cannot create the report directory: not a directory")
	} else if err == nil {
		if err := checkWritable(f.out); err != nil {
			return err
		}
	}
	// The page is built in a temporary sibling of DIR (which also checks,
	// before reading any input, that DIR can be written).
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(f.out)), "."+filepath.Base(filepath.Clean(f.out))+".tmp*")
	if err != nil {
		return cli.Dataf(f.out, "", "cannot create the report directory: %v", unwrapPath(err))
	}
	defer os.RemoveAll(tmp) // empty after a successful move
	runs, err := loadRuns(ctx, env, cli.Inputs(fs), f.pair)
	if err != nil {
		return err
	}
	var secs []section
	for _, fig := range figures {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := section{Name: fig.name, Doc: fig.doc}
		if fig.name == "heatmap" {
			// One image per run: each run's first and last dump steps.
			var reasons []string
			for i, r := range runs {
				d, err := plotting.HeatmapsOf([]*plotting.Run{r}, f.o)
				if err != nil {
					reasons = append(reasons, err.Error())
					continue
				}
				file := fmt.Sprintf("heatmap-%d.png", i+1)
				if err := writeFigure(tmp, file, plotting.TokenHeatmaps(d)); err != nil {
					return err
				}
				s.Files, s.Titles = append(s.Files, file), append(s.Titles, r.Name)
			}
			if len(s.Files) == 0 && len(reasons) > 0 {
				s.Missing = reasons[0]
			}
		} else {
			fg, err := plotting.Build(fig.name, runs, f.o)
			if err != nil {
				s.Missing = err.Error()
			} else {
				file := fig.name + ".png"
				if err := writeFigure(tmp, file, fg); err != nil {
					return err
				}
				s.Files, s.Titles = []string{file}, []string{""}
			}
		}
		secs = append(secs, s)
	}
	var page bytes.Buffer
	if err := pageTemplate.Execute(&page, newReportPage(runs, secs)); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "index.html"), page.Bytes(), 0o644); err != nil {
		return cli.Dataf(f.out, "", "cannot write: %v", unwrapPath(err))
	}
	if err := moveInto(tmp, f.out, secs); err != nil {
		return cli.Dataf(f.out, "", "cannot write the report: %v", unwrapPath(err))
	}
	fmt.Fprintln(env.Stdout, filepath.Join(f.out, "index.html"))
	return nil
}

// moveInto moves the finished report from tmp to dir: by renaming tmp when
// dir does not exist, else file by file (figures first, index.html last),
// leaving any other file of dir alone.
func moveInto(tmp, dir string, secs []section) error {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return os.Rename(tmp, dir)
	}
	var files []string
	for _, s := range secs {
		files = append(files, s.Files...)
	}
	for _, f := range append(files, "index.html") {
		if err := os.Rename(filepath.Join(tmp, f), filepath.Join(dir, f)); err != nil {
			return err
		}
	}
	return nil
}

// checkReportDir refuses a report directory that is a run directory or one
// of the inputs (a sweep directory), before anything is read or written.
func checkReportDir(dir string, inputs []string) error {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil // created, or refused as not a directory, later
	}
	if runfmt.IsRunDir(dir) {
		return cli.Usagef("-o %s is a run directory: the report's files would mix with the run's; write it beside the run (-o %s-report)",
			dir, filepath.Clean(dir))
	}
	for _, in := range inputs {
		if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
			return cli.Usagef("-o %s is the input %s: the report's files would mix with the runs'; write it beside them (-o %s-report)",
				dir, in, filepath.Clean(in))
		}
	}
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

// headlineTable is the report's table of one kind's headline figures.
type headlineTable struct {
	Kind    string
	Columns []headlineColumn
	Rows    []headlineRow
}

type headlineColumn struct{ Name, Doc string }

type headlineRow struct {
	Run, RunID, Loss, Span string
	Values                 []string
}

type runItem struct{ Name, Source, Truncated string }

// reportPage is what the page template shows.
type reportPage struct {
	Runs     []runItem
	Tables   []headlineTable
	Sections []section
}

// newReportPage collects the page's data: per kind, each run's headline
// figures (gradstat.KindStats.Headline, formatted by gradstat.Figure.Text,
// documented by the runs table's columns).
func newReportPage(runs []*plotting.Run, secs []section) reportPage {
	p := reportPage{Sections: secs}
	doc := map[string]string{}
	for _, c := range gradstat.RunColumns(nil) {
		doc[c.Name] = c.Doc
	}
	byKind := map[string]int{}
	for _, r := range runs {
		p.Runs = append(p.Runs, runItem{Name: r.Name, Source: r.Source, Truncated: r.Truncated})
		st := r.Stats
		for _, kind := range st.KindOrder {
			k := st.Kinds[kind]
			hs := k.Headline(kind)
			i, ok := byKind[kind]
			if !ok {
				i = len(p.Tables)
				byKind[kind] = i
				t := headlineTable{Kind: kind}
				for _, h := range hs {
					t.Columns = append(t.Columns, headlineColumn{Name: h.Name, Doc: doc[h.Name]})
				}
				p.Tables = append(p.Tables, t)
			}
			row := headlineRow{Run: r.Name, RunID: st.RunID, Loss: st.Loss, Span: k.Span()}
			for _, h := range hs {
				row.Values = append(row.Values, h.Text())
			}
			p.Tables[i].Rows = append(p.Tables[i].Rows, row)
		}
	}
	return p
}

// pageTemplate is the report page: static HTML and inline CSS only.
var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
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
dt{font-family:monospace;margin-top:0.3em}
</style></head><body>
<h1>entangle report</h1>
<p>{{len .Runs}} run(s). Figures follow the paper (Yuan et al. 2024, arXiv 2410.13828); every number below is computed from the runs' own Arrow outputs by gradstat: the same numbers, under the same names, as <code>gradstat -table runs</code> and <code>gradstat -summary</code>.</p>
<h2>Headline figures</h2>
{{range .Tables}}<h3>{{.Kind}} pairs</h3>
<table>
<tr><th>run</th><th>run id</th><th>loss</th><th>steps and pairs</th>{{range .Columns}}<th title="{{.Doc}}"><code>{{.Name}}</code></th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Run}}</td><td><code>{{.RunID}}</code></td><td>{{.Loss}}</td><td>{{.Span}}</td>{{range .Values}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<dl>
{{range .Columns}}<dt>{{.Name}}</dt><dd>{{.Doc}}</dd>
{{end}}</dl>
{{else}}<p class="missing">No pair rows: no headline figures (pairs.arrows of a preference run has them).</p>
{{end}}<h2>Runs</h2>
<ul>
{{range .Runs}}<li><b>{{.Name}}</b>: {{.Source}}{{if .Truncated}} <span class="missing">({{.Truncated}}; the complete steps are shown)</span>{{end}}</li>
{{end}}</ul>
{{range .Sections}}<h2 id="{{.Name}}">{{.Name}}</h2>
<p>{{.Doc}}</p>
{{if .Missing}}<p class="missing">Not available: {{.Missing}}.</p>
{{end}}{{$s := .}}{{range $i, $f := .Files}}{{with index $s.Titles $i}}<h3>{{.}}</h3>
{{end}}<img src="{{$f}}" alt="{{$s.Name}} {{index $s.Titles $i}}">
{{end}}{{end}}</body></html>
`))
