package main

import (
	"bytes"
	"context"
	"html"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"entangle/pkg/cli"
	"entangle/pkg/gradstat"
	"entangle/pkg/runfmt"
)

// TestHeadlineSameEverywhere: for one run, gradstat -summary, gradstat
// -table runs and plot's report print the same headline figures under the
// same names: every figure of KindStats.Headline, for the train and the
// probe pairs, has the runs table's value, and the summary and the page
// print that value as Figure.Text formats it, after its name (summary) or in
// its column (the page's row of the run, in the order of its header).
func TestHeadlineSameEverywhere(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "task=1t")
	writeRun(t, dir, fixtureOptions{})
	ins, err := runfmt.Resolve(dir)
	if err != nil {
		t.Fatal(err)
	}
	open := func(p string) (io.ReadCloser, error) { return os.Open(p) }
	var summary, table bytes.Buffer
	runs := gradstat.NewRunCollector()
	e := gradstat.NewEngine(gradstat.Options{Collectors: []gradstat.Collector{gradstat.NewSummaryWriter(&summary, 1), runs}})
	if err := gradstat.Process(context.Background(), e, ins[0], open, nil); err != nil {
		t.Fatal(err)
	}
	b := runs.Table()
	sink, _ := gradstat.NewTextSink(&table, "tsv", b.Cols)
	if err := sink.Write(b); err != nil {
		t.Fatal(err)
	}
	sink.Close()
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	names, values := strings.Split(lines[0], "\t"), strings.Split(lines[1], "\t")
	col := map[string]string{}
	for i, n := range names {
		col[n] = values[i]
	}
	report := filepath.Join(tmp, "report")
	var o, errb bytes.Buffer
	env := &cli.Env{Name: "plot", Args: []string{"report", "-o", report, dir}, Stdin: strings.NewReader(""), Stdout: &o, Stderr: &errb}
	if code := cli.Run(context.Background(), env, run); code != 0 {
		t.Fatalf("plot report: exit %d: %s", code, errb.String())
	}
	raw, err := os.ReadFile(filepath.Join(report, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	page := html.UnescapeString(string(raw)) // html/template writes + as &#43;
	for _, kind := range []string{"train", "probe"} {
		k := runs.Runs[0].Kinds[kind]
		header, row := "", ""
		for _, h := range k.Headline(kind) {
			v, err := strconv.ParseFloat(col[h.Name], 64)
			if err != nil || v != h.Value {
				t.Errorf("%s: runs table %q, headline %v", h.Name, col[h.Name], h.Value)
			}
			text := h.Text()
			if !strings.Contains(summary.String(), h.Name+" "+text) {
				t.Errorf("summary lacks %q:\n%s", h.Name+" "+text, summary.String())
			}
			header += "<code>" + h.Name + "</code></th>"
			row += "<td>" + text + "</td>"
		}
		if !strings.Contains(page, "<td>task=1t</td>") || !strings.Contains(page, row+"</tr>") {
			t.Errorf("report: no %s row of task=1t ending %q", kind, row)
		}
		if !strings.Contains(stripTitles(page), header) {
			t.Errorf("report: %s header is not %q", kind, header)
		}
	}
}

// stripTitles removes the title attributes of the page's header cells.
func stripTitles(page string) string {
	var b strings.Builder
	for {
		i := strings.Index(page, `<th title="`)
		if i < 0 {
			return b.String() + page
		}
		j := strings.Index(page[i:], `">`)
		b.WriteString(page[:i])
		page = page[i+j+2:]
	}
}
