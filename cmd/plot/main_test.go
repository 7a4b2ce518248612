package main

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"entangle/pkg/cli"
	"entangle/pkg/runfmt"
)

// runPlot runs the command in process.
func runPlot(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	env := &cli.Env{Name: "plot", Args: args, Stdin: strings.NewReader(stdin), Stdout: &o, Stderr: &e}
	code = cli.Run(context.Background(), env, run)
	return code, o.String(), e.String()
}

// dirFiles lists the names in dir (hidden temporaries included).
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range es {
		n = append(n, e.Name())
	}
	return n
}

func TestEveryFigureRenders(t *testing.T) {
	tmp := t.TempDir()
	runA := filepath.Join(tmp, "a")
	runB := filepath.Join(tmp, "b")
	writeRun(t, runA, fixtureOptions{})
	writeRun(t, runB, fixtureOptions{meta: func(m *runfmt.Meta) { m.Loss = "ipo"; m.RunID = "ffff" }})
	for _, f := range figures {
		for _, ext := range []string{"png", "svg", "pdf"} {
			out := filepath.Join(tmp, f.name+"."+ext)
			code, _, stderr := runPlot(t, "", f.name, runA, runB, "-o", out)
			if code != 0 {
				t.Fatalf("%s.%s: exit %d: %s", f.name, ext, code, stderr)
			}
			b, err := os.ReadFile(out)
			if err != nil || len(b) == 0 {
				t.Fatalf("%s.%s: %v, %d bytes", f.name, ext, err, len(b))
			}
			if ext == "png" {
				if _, err := png.Decode(bytes.NewReader(b)); err != nil {
					t.Errorf("%s.png: %v", f.name, err)
				}
			}
		}
	}
	if got := len(dirFiles(t, tmp)); got != 2+3*len(figures) {
		t.Errorf("%d files in the output directory, want the runs and %d figures (no temporaries left)", got, 3*len(figures))
	}
}

func TestStreamFileAndStdin(t *testing.T) {
	tmp := t.TempDir()
	writeRun(t, tmp, fixtureOptions{})
	pairs, err := os.ReadFile(filepath.Join(tmp, "pairs.arrows"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "e.png")
	if code, _, stderr := runPlot(t, string(pairs), "entanglement", "-o", out); code != 0 {
		t.Fatalf("stdin: exit %d: %s", code, stderr)
	}
	// Stream files are runs of their own (runfmt.Resolve), as in gradstat.
	out = filepath.Join(tmp, "d.png")
	if code, _, stderr := runPlot(t, "", "dynamics", filepath.Join(tmp, "steps.arrows"), filepath.Join(tmp, "pairs.arrows"), "-o", out); code != 0 {
		t.Fatalf("files: exit %d: %s", code, stderr)
	}
	runs, err := loadRuns(context.Background(), &cli.Env{Name: "plot", Stderr: new(bytes.Buffer)}, []string{filepath.Join(tmp, "steps.arrows"), filepath.Join(tmp, "pairs.arrows")}, -1)
	if err != nil || len(runs) != 2 {
		t.Errorf("two stream files: %d runs, %v", len(runs), err)
	}
}

func TestBadInput(t *testing.T) {
	tmp := t.TempDir()
	good := filepath.Join(tmp, "run")
	writeRun(t, good, fixtureOptions{})
	stepsOnly := filepath.Join(tmp, "steps-only")
	writeRun(t, stepsOnly, fixtureOptions{noPairs: true, noGrads: true})
	empty := filepath.Join(tmp, "empty.arrows")
	os.WriteFile(empty, nil, 0o644)
	text := filepath.Join(tmp, "notes.arrows")
	os.WriteFile(text, []byte("hello, not arrow\n"), 0o644)
	emptyDir := filepath.Join(tmp, "nothing")
	os.Mkdir(emptyDir, 0o755)
	outDir := filepath.Join(tmp, "out")
	os.Mkdir(outDir, 0o755)
	out := filepath.Join(outDir, "x.png")
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string // regexp of the one stderr line
	}{
		{"no figure", nil, 2, `^plot: no figure given`},
		{"unknown figure", []string{"scatter", good, "-o", out}, 2, `unknown figure "scatter"`},
		{"no -o", []string{"dynamics", good}, 2, `-o FILE is required`},
		{"unknown extension", []string{"dynamics", good, "-o", filepath.Join(outDir, "x.jpg")}, 2, `unknown output extension "\.jpg"`},
		{"bad -kind", []string{"plane", "-kind", "eval", good, "-o", out}, 2, `-kind "eval"`},
		{"unwritable", []string{"dynamics", good, "-o", filepath.Join(tmp, "missing", "x.png")}, 1, `x\.png: cannot write: no such file or directory`},
		{"missing input", []string{"dynamics", filepath.Join(tmp, "nope"), "-o", out}, 1, `nope: no such file or directory`},
		{"empty input", []string{"dynamics", empty, "-o", out}, 1, `empty\.arrows: empty input`},
		{"not arrow", []string{"dynamics", text, "-o", out}, 1, `notes\.arrows: not an Arrow IPC stream`},
		{"no run in dir", []string{"dynamics", emptyDir, "-o", out}, 1, `nothing: no run found`},
		{"plane without pairs", []string{"plane", stepsOnly, "-o", out}, 1, `condition plane: no pair rows .*pairs\.arrows`},
		{"heatmap without grads", []string{"heatmap", stepsOnly, "-o", out}, 1, `heatmap needs per-token gradient rows .*grads\.arrows \(train -grads full -token-grads`},
		{"firstorder without probes", []string{"firstorder", stepsOnly, "-o", out}, 1, `firstorder needs probe rows`},
		{"groups without pairs", []string{"groups", stepsOnly, "-o", out}, 1, `groups needs dot_g, ww_g, ll_g`},
		{"report without -o", []string{"report", good}, 2, `-o DIR is required`},
		{"report into a file", []string{"report", "-o", empty, good}, 1, `cannot create the report directory`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runPlot(t, "", c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d (%s)", code, c.code, stderr)
			}
			if strings.Count(stderr, "\n") != 1 || !regexp.MustCompile(c.msg).MatchString(stderr) {
				t.Errorf("stderr %q, want one line matching %q", stderr, c.msg)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
			if n := dirFiles(t, outDir); len(n) != 0 {
				t.Errorf("files left in the output directory: %v", n)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	code, stdout, _ := runPlot(t, "", "-h")
	if code != 0 || !strings.Contains(stdout, "usage: plot FIGURE") || !strings.Contains(stdout, "firstorder") {
		t.Errorf("-h: exit %d, %q", code, stdout)
	}
	code, stdout, _ = runPlot(t, "", "report", "-h")
	if code != 0 || !strings.Contains(stdout, "plot report") {
		t.Errorf("report -h: exit %d", code)
	}
}

// TestTruncatedStreamWarnsAndPlots: a stream without its end-of-stream
// marker is plotted up to its last complete step, with a warning naming it,
// whether the run is still being written (no DONE) or finished.
func TestTruncatedStreamWarnsAndPlots(t *testing.T) {
	for _, done := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "run")
		writeRun(t, dir, fixtureOptions{truncatePairs: true})
		want := "run in progress (no DONE): read through step 3"
		if done {
			os.WriteFile(filepath.Join(dir, "DONE"), nil, 0o644)
			want = "pairs.arrows:step 3: truncated Arrow stream: no end-of-stream marker"
		}
		out := filepath.Join(filepath.Dir(dir), "e.png")
		code, _, stderr := runPlot(t, "", "entanglement", dir, "-o", out)
		if code != 0 || !strings.Contains(stderr, want) {
			t.Errorf("DONE %v: exit %d, stderr %q: want a warning %q", done, code, stderr, want)
		}
		if _, err := os.Stat(out); err != nil {
			t.Error(err)
		}
	}
}

// TestReportWritesEveryFile checks the report of a run with everything and
// of one with only steps: every figure file the page names exists and
// decodes, the table has a row per run, missing figures say why, and no
// temporary file is left.
func TestReportWritesEveryFile(t *testing.T) {
	tmp := t.TempDir()
	full := filepath.Join(tmp, "sweep", "task=1t")
	writeRun(t, full, fixtureOptions{})
	writeRun(t, filepath.Join(tmp, "sweep", "task=sft"), fixtureOptions{noPairs: true, noGrads: true, meta: func(m *runfmt.Meta) { m.RunID = "5ft" }})
	dir := filepath.Join(tmp, "report")
	code, stdout, stderr := runPlot(t, "", "report", "-o", dir, filepath.Join(tmp, "sweep"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	index := filepath.Join(dir, "index.html")
	if strings.TrimSpace(stdout) != index {
		t.Errorf("stdout %q, want the page's path", stdout)
	}
	page, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	srcs := regexp.MustCompile(`<img src="([^"]+)"`).FindAllStringSubmatch(string(page), -1)
	// Every figure of the full run (the heatmap once: one run has token rows).
	if len(srcs) != len(figures) {
		t.Errorf("%d images, want %d", len(srcs), len(figures))
	}
	for _, m := range srcs {
		b, err := os.ReadFile(filepath.Join(dir, m[1]))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("%s: %v", m[1], err)
		}
	}
	if n := len(dirFiles(t, dir)); n != len(srcs)+1 {
		t.Errorf("%d files in the report directory, want %d: %v", n, len(srcs)+1, dirFiles(t, dir))
	}
	for _, want := range []string{"<td>task=1t</td>", "<b>task=sft</b>", "<code>probe_logp_w_delta</code>", "<td>0.500</td>", "<script"} {
		if got := strings.Contains(string(page), want); got != (want != "<script") {
			t.Errorf("page contains %q: %v", want, got)
		}
	}
	if strings.Contains(string(page), "http") {
		t.Error("the page refers to the network")
	}
}

// TestReportFailureLeavesNothing: a report that fails (here on an input that
// is not Arrow) creates no directory and leaves no temporary beside it; a
// report into an existing directory replaces its files only on success and
// keeps the directory's other files.
func TestReportFailureLeavesNothing(t *testing.T) {
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "notes.arrows")
	os.WriteFile(bad, []byte("not arrow\n"), 0o644)
	dir := filepath.Join(tmp, "report")
	if code, _, stderr := runPlot(t, "", "report", "-o", dir, bad); code != 1 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if n := dirFiles(t, tmp); len(n) != 1 {
		t.Errorf("files after a failed report: %v, want only the input", n)
	}
	run := filepath.Join(tmp, "run")
	writeRun(t, run, fixtureOptions{})
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	if code, _, stderr := runPlot(t, "", "report", "-o", dir, run); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if n := len(dirFiles(t, dir)); n != len(figures)+2 {
		t.Errorf("%d files in the report directory, want %d figures, index.html and notes.txt: %v", n, len(figures), dirFiles(t, dir))
	}
	if n := dirFiles(t, tmp); len(n) != 3 {
		t.Errorf("files beside the report: %v (a temporary left?)", n)
	}
}

// TestReportRefusesARunDirectory: -o naming a run directory (the input or
// another run) or an input sweep directory is a usage error (exit 2) that
// writes nothing into it; a fresh directory beside them works.
func TestReportRefusesARunDirectory(t *testing.T) {
	tmp := t.TempDir()
	run := filepath.Join(tmp, "sweep", "task=1t")
	writeRun(t, run, fixtureOptions{})
	other := filepath.Join(tmp, "other")
	writeRun(t, other, fixtureOptions{})
	sweep := filepath.Join(tmp, "sweep")
	for _, tc := range []struct{ out, in, want string }{
		{run, run, "is a run directory"},
		{run + "/", run, "is a run directory"},
		{other, run, "is a run directory"},
		{sweep, sweep, "is the input " + sweep},
	} {
		before := dirFiles(t, tc.out)
		code, stdout, stderr := runPlot(t, "", "report", "-o", tc.out, tc.in)
		if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("-o %s %s: exit %d, stdout %q, stderr %q; want 2 and one line %q", tc.out, tc.in, code, stdout, stderr, tc.want)
		}
		if after := dirFiles(t, tc.out); len(after) != len(before) {
			t.Errorf("-o %s: files %v, were %v", tc.out, after, before)
		}
	}
	if n := dirFiles(t, tmp); len(n) != 2 {
		t.Errorf("files beside the runs: %v (a temporary left?)", n)
	}
	if code, _, stderr := runPlot(t, "", "report", "-o", run+"-report", run); code != 0 {
		t.Errorf("-o beside the run: exit %d, stderr %q", code, stderr)
	}
}
