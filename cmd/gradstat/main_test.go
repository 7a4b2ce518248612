package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"entangle/pkg/cli"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
)

// gradstat runs the command in process and returns stdout, stderr and the exit code.
func runCmd(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cli.Env{Name: "gradstat", Args: args, Stdin: bytes.NewReader(stdin), Stdout: &out, Stderr: &errb}
	code := cli.Run(context.Background(), env, run)
	return out.String(), errb.String(), code
}

var nan = math.NaN()

func meta() runfmt.Meta {
	return runfmt.Meta{RunID: "run1", Loss: "dpo", Mode: "pref", Config: `{"loss":"dpo"}`,
		Groups: []runfmt.Group{{Name: "wte", Offset: 0, Size: 4}, {Name: "lm_head", Offset: 4, Size: 4}}, C: 2,
		Vocab: []string{"<unk>", "<eos>", "positive", "I", "liked", "negative"}}
}

// pair returns a pair row whose reductions split into two groups as
// (dot/4, 3dot/4) etc., so the groups sum exactly to the totals.
func pair(step int64, kind string, id int64, dot, ww, ll, dw, dl, logpW, logpL float64) runfmt.PairRow {
	return runfmt.PairRow{Step: step, Kind: kind, Pair: id, Dot: dot, WW: ww, LL: ll, DW: dw, DL: dl, CW: dw, CL: dl,
		LogpW: logpW, LogpL: logpL, LenW: 2, LenL: 2,
		DotG: []float64{dot / 4, dot * 3 / 4}, WWG: []float64{ww / 4, ww * 3 / 4}, LLG: []float64{ll / 4, ll * 3 / 4},
		HidW: []float32{1, 1}, HidL: []float32{2, 0},
		LogpWAfter: nan, LogpLAfter: nan, PredW: nan, PredL: nan}
}

// handStep returns the hand-worked pairs of pkg/gradstat's tests at step s
// (cos 0.5, 0.75, 0.75; R 1, 1.5, 1.5; paper cases 1, 2, 3), with mean
// log-probs −10−s (chosen) and −12−2s (rejected).
func handStep(s int64) []runfmt.PairRow {
	w, l := -10-float64(s), -12-2*float64(s)
	return []runfmt.PairRow{
		pair(s, "train", 100, 1, 4, 1, 1, 1, w, l),
		pair(s, "train", 101, 3, 2, 8, 2, 1, w, l),
		pair(s, "train", 102, 1.5, 4, 1, 1, 1, w, l),
	}
}

type fixture struct {
	steps, pairs, grads []byte
}

// makeRun writes a two-step run (steps 0 and 1) with a probe pair and a
// grads dump at step 1.
func makeRun(t *testing.T) fixture {
	t.Helper()
	var fx fixture
	var sb, pb, gb bytes.Buffer
	m := meta()
	sw, err := runfmt.NewStepWriter(&sb, m)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := runfmt.NewPairWriter(&pb, m)
	if err != nil {
		t.Fatal(err)
	}
	gm := m
	gm.Sketch, gm.Dim = "full", 8
	gw, err := runfmt.NewGradWriter(&gb, gm)
	if err != nil {
		t.Fatal(err)
	}
	for s := int64(0); s < 2; s++ {
		r := runfmt.NullStepRow(s, "train")
		r.BatchDot, r.BatchWW, r.BatchLL = 3, 4, 9 // batch cos 3/√36 = 0.5
		if err := sw.Write([]runfmt.StepRow{r}); err != nil {
			t.Fatal(err)
		}
		rows := handStep(s)
		if s == 1 {
			// probe: I = 2, ‖g_w‖² = 5, ‖g_l‖² = 2 (the vectors below); pred_w = 0.5,
			// pred_l = 0 (update below); observed +0.5 and −0.25.
			p := pair(1, "probe", 9, 2, 5, 2, 1, 1, -5, -6)
			p.LogpWAfter, p.LogpLAfter, p.PredW, p.PredL = -4.5, -6.25, 0.5, 0
			rows = append(rows, p)
		}
		if err := pw.Write(rows); err != nil {
			t.Fatal(err)
		}
	}
	seq := func(side string, g []float32) runfmt.GradRow {
		pair := int64(9)
		kind := "probe"
		if side == "update" {
			pair, kind = -1, "update"
		}
		return runfmt.GradRow{Step: 1, Kind: kind, Pair: pair, Side: side, Token: -1, TokenID: -1, Contrastive: -1, Grad: g}
	}
	tok := func(side string, i, id int32, c int8, g []float32) runfmt.GradRow {
		return runfmt.GradRow{Step: 1, Kind: "probe", Pair: 9, Side: side, Token: i, TokenID: id, Contrastive: c, Grad: g}
	}
	grads := []runfmt.GradRow{
		seq("chosen", []float32{1, 2, 0, 0, 0, 0, 0, 0}),
		seq("rejected", []float32{0, 1, 1, 0, 0, 0, 0, 0}),
		seq("update", []float32{0.5, 0, 0, 0.25, 0, 0, 0, 0}),
		// chosen "positive liked" vs rejected "negative liked": anti-parallel
		// contrastive tokens, identical aligned shared tokens.
		tok("chosen", 0, 2, 1, []float32{1, 0, 0, 0, 0, 0, 0, 0}),
		tok("chosen", 1, 4, 0, []float32{0, 0, 0, 0, 0, 3, 0, 0}),
		tok("rejected", 0, 5, 1, []float32{-2, 0, 0, 0, 0, 0, 0, 0}),
		tok("rejected", 1, 4, 0, []float32{0, 0, 0, 0, 0, 3, 0, 0}),
	}
	if err := gw.Write(grads); err != nil {
		t.Fatal(err)
	}
	for _, w := range []interface{ Close() error }{sw, pw, gw} {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	fx.steps, fx.pairs, fx.grads = sb.Bytes(), pb.Bytes(), gb.Bytes()
	return fx
}

func writeRunDir(t *testing.T, dir string, fx fixture, done bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"steps.arrows": fx.steps, "pairs.arrows": fx.pairs, "grads.arrows": fx.grads} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if done {
		os.WriteFile(filepath.Join(dir, "DONE"), []byte("1\n"), 0o644)
	}
}

// parseTSV returns the rows of a TSV table as maps from column name to field.
func parseTSV(t *testing.T, s string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	head := strings.Split(lines[0], "\t")
	var out []map[string]string
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != len(head) {
			t.Fatalf("line %q has %d fields, header %d", l, len(f), len(head))
		}
		r := map[string]string{}
		for i, h := range head {
			r[h] = f[i]
		}
		out = append(out, r)
	}
	return out
}

func num(t *testing.T, r map[string]string, col string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(r[col], 64)
	if err != nil {
		t.Fatalf("%s = %q: %v", col, r[col], err)
	}
	return v
}

func wantNum(t *testing.T, r map[string]string, col string, want float64) {
	t.Helper()
	if got := num(t, r, col); math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", col, got, want)
	}
}

func TestStepsTableTSV(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	writeRunDir(t, dir, makeRun(t), true)
	out, stderr, code := runCmd(t, nil, "-format", "tsv", dir)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	rows := parseTSV(t, out)
	if len(rows) != 3 { // step 0 train, step 1 train, step 1 probe
		t.Fatalf("%d rows:\n%s", len(rows), out)
	}
	r := rows[0]
	if r["run"] != dir || r["run_id"] != "run1" || r["loss"] != "dpo" || r["step"] != "0" || r["kind"] != "train" {
		t.Errorf("identity: %v", r)
	}
	// Hand-worked in pkg/gradstat: cos 0.5, 0.75, 0.75; R 1, 1.5, 1.5; one pair per case.
	wantNum(t, r, "cos_mean", 2.0/3)
	wantNum(t, r, "cos_median", 0.75)
	wantNum(t, r, "R_mean", 4.0/3)
	wantNum(t, r, "case1", 1.0/3)
	wantNum(t, r, "case2", 1.0/3)
	wantNum(t, r, "loss_case1", 2.0/3)
	wantNum(t, r, "batch_cos", 0.5)
	wantNum(t, rows[1], "logp_w_mean", -11)
	probe := rows[2]
	if probe["kind"] != "probe" || probe["batch_cos"] != "" {
		t.Errorf("probe row %v", probe)
	}
	// probe: pred (0.5, 0) vs obs (0.5, −0.25): relerr_w 0, relerr_l 1; both case 1.
	wantNum(t, probe, "fo_relerr_w_median", 0)
	wantNum(t, probe, "fo_relerr_l_median", 1)
	wantNum(t, probe, "fo_match", 1)
}

func TestPairsTableJoinsGrads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	writeRunDir(t, dir, makeRun(t), true)
	out, stderr, code := runCmd(t, nil, "-format", "tsv", "-table", "pairs", dir)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	rows := parseTSV(t, out)
	if len(rows) != 3+4+1 {
		t.Fatalf("%d rows, want 3 + 4 from pairs.arrows and 1 from grads.arrows", len(rows))
	}
	g := rows[7]
	if g["source"] != "grads" || g["pair"] != "9" || g["estimate"] != "false" {
		t.Fatalf("last row %v", g)
	}
	// Recomputed from the vectors: ⟨(1,2,0,…),(0,1,1,…)⟩ = 2, norms √5, √2.
	wantNum(t, g, "dot", 2)
	wantNum(t, g, "norm_w", math.Sqrt(5))
	wantNum(t, g, "pred_w", 0.5)
	wantNum(t, g, "obs_l", -0.25)
	// CHES of the fixture's hidden states (1,1), (2,0), n = 2, 2: 2 − 2 = 0 and 2/4 − 2/4 = 0.
	wantNum(t, rows[6], "ches", 0)
	wantNum(t, rows[6], "ches_norm", 0)
}

func TestGroupsAndTokens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	writeRunDir(t, dir, makeRun(t), true)
	out, _, code := runCmd(t, nil, "-format", "csv", "-table", "groups", dir)
	if code != 0 {
		t.Fatal(code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// 2 groups × (step 0 train, step 1 train, step 1 probe). The fixture puts 1/4 of
	// every reduction in wte: dot (1+3+1.5)/4 = 1.375, ww (4+2+4)/4 = 2.5, ll (1+8+1)/4
	// = 2.5, shares 1/4; scaling both sides alike keeps each pair's cosine, so the
	// group's mean cosine is the pairs' mean, 2/3.
	if len(lines) != 7 || !strings.Contains(lines[1], ",0,train,wte,3,1.375,2.5,2.5,0.25,0.25,0.25,0.6666666666666666") {
		t.Fatalf("groups csv:\n%s", out)
	}
	out, _, code = runCmd(t, nil, "-format", "jsonl", "-table", "tokens", dir)
	if code != 0 {
		t.Fatal(code)
	}
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("tokens jsonl:\n%s", out)
	}
	if !strings.Contains(lines[0], `"token_w":"positive","token_l":"negative","contrastive_w":true,"contrastive_l":true,"cos":-1,`) {
		t.Errorf("entry 0,0: %s", lines[0])
	}
	if !strings.Contains(lines[4], `"i":-1,`) || !strings.Contains(lines[4], `"contrastive_mean":-1,"contrastive_n":1,"aligned_shared_mean":1,"aligned_shared_n":1,"other_mean":0,"other_n":2`) {
		t.Errorf("summary: %s", lines[4])
	}
}

func TestSummary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	writeRunDir(t, dir, makeRun(t), true)
	out, stderr, code := runCmd(t, nil, "-summary", dir)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"run " + dir + "  (run_id run1, loss dpo,",
		"       0 train     3   0.6667   0.7500  0.333  0.333  0.333  0.667  0.000  0.333  0.000    1.333      -\n",
		"       1 probe     1   0.6325   0.6325  1.000  0.000  0.000  1.000  0.000  0.000  0.000    1.000  1.000\n",
		// train means: chosen −10 → −11, rejected −12 → −14, margin +1.
		"  train pairs: steps 0..1 (2 steps, 6 pair-steps)\n    train_logp_w_delta -1.0000  train_logp_l_delta -2.0000  train_margin_delta +1.0000  train_cos_mean 0.6667\n",
		// loss-aware cases over the 6 train pair-steps: 4 ideal, 2 both rise.
		"    train_loss_case1 0.667  train_loss_case2 0.000  train_loss_case3 0.333  train_loss_case4 0.000\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestArrowOutput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	writeRunDir(t, dir, makeRun(t), true)
	out, _, code := runCmd(t, nil, dir)
	if code != 0 {
		t.Fatal(code)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rd, err := ipc.NewReader(strings.NewReader(out), ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	md := rd.Schema().Metadata()
	if v, _ := md.GetValue("format"); v != "entangle.gradstat.steps" {
		t.Errorf("format %q", v)
	}
	want := `[{"run":"` + dir + `","run_id":"run1","loss":"dpo","mode":"pref","source":"` + dir + `","config":{"loss":"dpo"}}]`
	if v, _ := md.GetValue("runs"); v != want {
		t.Errorf("runs metadata %s, want %s", v, want)
	}
	n := 0
	for rd.Next() {
		rec := rd.Record()
		n += int(rec.NumRows())
		c := rec.Column(rec.Schema().FieldIndices("cos_mean")[0]).(*array.Float64)
		if rec.Schema().Field(rec.Schema().FieldIndices("cos_mean")[0]).Type != arrow.PrimitiveTypes.Float64 || c.Len() == 0 {
			t.Error("cos_mean column")
		}
	}
	if rd.Err() != nil || n != 3 {
		t.Errorf("rows %d err %v", n, rd.Err())
	}
	// -o FILE writes an Arrow IPC file.
	f := filepath.Join(t.TempDir(), "s.arrow")
	if _, _, code := runCmd(t, nil, "-o", f, dir); code != 0 {
		t.Fatal(code)
	}
	fh, _ := os.Open(f)
	defer fh.Close()
	fr, err := ipc.NewFileReader(fh)
	if err != nil {
		t.Fatalf("file reader: %v", err)
	}
	defer fr.Close()
	n = 0
	for i := 0; i < fr.NumRecords(); i++ {
		rec, err := fr.RecordAt(i)
		if err != nil {
			t.Fatal(err)
		}
		n += int(rec.NumRows())
		rec.Release()
	}
	if n != 3 {
		t.Errorf("file has %d rows, want 3", n)
	}
}

// TestClosedFormEndToEnd: a pair whose next-token mass lies on the chosen
// and rejected tokens only has anti-parallel gradients (paper §4.1): with
// last-layer gradients g = (e − p)hᵀ, p = (3/4, 1/4), h = (1, 1): I = −3/4,
// ‖g_w‖² = 1/4, ‖g_l‖² = 9/4 (exact), so cos = −1 exactly, R = −3, case 1.
func TestClosedFormEndToEnd(t *testing.T) {
	var pb bytes.Buffer
	pw, _ := runfmt.NewPairWriter(&pb, meta())
	pw.Write([]runfmt.PairRow{pair(0, "train", 1, -0.75, 0.25, 2.25, 1, 1, -1, -2)})
	pw.Close()
	// From stdin: the schema read for the "runs" metadata is replayed.
	out, _, code := runCmd(t, pb.Bytes(), "-format", "tsv", "-table", "pairs", "-")
	if code != 0 {
		t.Fatal(code)
	}
	r := parseTSV(t, out)[0]
	if r["cos"] != "-1" || r["R"] != "-3" || r["case"] != "1" || r["run"] != "<stdin>" {
		t.Errorf("cos %s R %s case %s run %s", r["cos"], r["R"], r["case"], r["run"])
	}
}

func TestWarningsOnStderr(t *testing.T) {
	var pb bytes.Buffer
	pw, _ := runfmt.NewPairWriter(&pb, meta())
	pw.Write([]runfmt.PairRow{pair(3, "train", 42, 0, 0, 1, 1, 1, -1, -2)})
	pw.Close()
	out, stderr, code := runCmd(t, pb.Bytes(), "-format", "tsv", "-table", "pairs")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stderr, "gradstat: warning: <stdin>: step 3: train pair 42: entangle: zero-norm gradient") {
		t.Errorf("stderr %q", stderr)
	}
	if r := parseTSV(t, out)[0]; r["cos"] != "" || r["warnings"] == "0" {
		t.Errorf("cos %q warnings %q: want null and > 0", r["cos"], r["warnings"])
	}
	if _, stderr, _ := runCmd(t, pb.Bytes(), "-q", "-format", "tsv"); stderr != "" {
		t.Errorf("-q: stderr %q", stderr)
	}
}

func TestSweepLabels(t *testing.T) {
	root := t.TempDir()
	fx := makeRun(t)
	for _, p := range []string{"task=long/loss=dpo/seed=1", "task=long/loss=ipo/seed=1", "notes/x"} {
		if p == "notes/x" {
			os.MkdirAll(filepath.Join(root, p), 0o755) // not a run: ignored
			continue
		}
		writeRunDir(t, filepath.Join(root, p), fx, true)
	}
	out, stderr, code := runCmd(t, nil, "-format", "tsv", root)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	var runs []string
	for _, r := range parseTSV(t, out) {
		if len(runs) == 0 || runs[len(runs)-1] != r["run"] {
			runs = append(runs, r["run"])
		}
	}
	if strings.Join(runs, " ") != "task=long/loss=dpo/seed=1 task=long/loss=ipo/seed=1" {
		t.Errorf("runs %q", runs)
	}
}

// arrowStream writes an Arrow stream with the given metadata and one int64
// column "step" (one row), for the bad-input tests.
func arrowStream(t *testing.T, md map[string]string) []byte {
	var b bytes.Buffer
	m := arrow.MetadataFrom(md)
	s := arrow.NewSchema([]arrow.Field{{Name: "step", Type: arrow.PrimitiveTypes.Int64}}, &m)
	w := ipc.NewWriter(&b, ipc.WithSchema(s))
	bl := array.NewInt64Builder(memory.DefaultAllocator)
	bl.Append(0)
	a := bl.NewArray()
	rec := array.NewRecord(s, []arrow.Array{a}, 1)
	w.Write(rec)
	w.Close()
	return b.Bytes()
}

func TestBadInputs(t *testing.T) {
	fx := makeRun(t)
	d, err := prefdata.Generate(func() prefdata.GenConfig {
		c := prefdata.DefaultGenConfig()
		c.NTrain, c.NTest, c.NSFT = 2, 0, 0
		return c
	}())
	if err != nil {
		t.Fatal(err)
	}
	var pd bytes.Buffer
	if err := prefdata.WriteStream(&pd, d); err != nil {
		t.Fatal(err)
	}
	// Cut the pairs stream inside its second record batch (step 1): step 0 is complete.
	cut := fx.pairs[:len(fx.pairs)-200]
	for _, tc := range []struct {
		name   string
		stdin  []byte
		stderr string
		rows   int // data rows expected on stdout (tsv)
	}{
		{"not arrow", []byte("step\tcos\n1\t0.5\n"), "gradstat: <stdin>: not an Arrow IPC stream", -1},
		{"empty", nil, "gradstat: <stdin>: empty input", -1},
		{"prefgen dataset", pd.Bytes(), "gradstat: <stdin>: is a prefgen dataset, not a train output", -1},
		{"other arrow", arrowStream(t, map[string]string{"producer": "x"}), `no "format" metadata`, -1},
		{"unknown version", arrowStream(t, map[string]string{"format": "entangle.steps", "format_version": "3"}), `format_version "3" is not supported`, -1},
		{"missing columns", arrowStream(t, map[string]string{"format": "entangle.steps", "format_version": "1"}), `missing column "kind"`, -1},
		{"truncated", cut, fmt.Sprintf("gradstat: <stdin>:step 0: truncated Arrow stream: the input ends inside a message body at byte %d (", len(cut)), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := runCmd(t, tc.stdin, "-format", "tsv")
			if code != 1 || !strings.HasPrefix(stderr, tc.stderr) && !strings.Contains(stderr, tc.stderr) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want 1 and one line with %q", code, stderr, tc.stderr)
			}
			if tc.rows < 0 && out != "" {
				t.Errorf("stdout has %d bytes, want none: a bad input is found before anything is written", len(out))
			}
			if tc.rows >= 0 && strings.Count(out, "\n") != tc.rows+1 {
				t.Errorf("stdout has %d lines, want header + %d rows:\n%s", strings.Count(out, "\n"), tc.rows, out)
			}
		})
	}
	// A run directory without DONE is a run in progress: its truncated
	// stream is read up to the last complete step, with a warning, exit 0.
	dir := filepath.Join(t.TempDir(), "live")
	live := fx
	live.pairs = cut
	writeRunDir(t, dir, live, false)
	out, stderr, code := runCmd(t, nil, "-format", "tsv", dir)
	if code != 0 || !strings.Contains(stderr, "run in progress (no DONE): read through step 0") || len(parseTSV(t, out)) != 1 {
		t.Errorf("live run: exit %d stderr %q\n%s", code, stderr, out)
	}
	// A run without DONE whose streams end at a message boundary is read
	// whole, with a warning that it is still in progress; with DONE, silently.
	whole := filepath.Join(t.TempDir(), "whole")
	writeRunDir(t, whole, fx, false)
	if _, stderr, code := runCmd(t, nil, "-format", "tsv", whole); code != 0 ||
		!strings.Contains(stderr, "run in progress (no DONE): statistics of the steps written so far") {
		t.Errorf("unfinished run: exit %d stderr %q, want the in-progress warning", code, stderr)
	}
	writeRunDir(t, whole, fx, true)
	if _, stderr, code := runCmd(t, nil, "-format", "tsv", whole); code != 0 || stderr != "" {
		t.Errorf("finished run: exit %d stderr %q, want none", code, stderr)
	}
	// A finished run's stream cut inside a record batch is reported as
	// truncated, with the file, the byte where it ends and the last step.
	writeRunDir(t, dir, live, true)
	want := fmt.Sprintf("pairs.arrows:step 0: truncated Arrow stream: the input ends inside a message body at byte %d (", len(cut))
	if _, stderr, code := runCmd(t, nil, "-format", "tsv", dir); code != 1 || !strings.Contains(stderr, want) ||
		!strings.Contains(stderr, "though the run has DONE") || strings.Contains(stderr, "corrupt") {
		t.Errorf("finished run: exit %d stderr %q, want %q", code, stderr, want)
	}
}

// TestBadInputWritesNothing: every input's header is read before the output
// is created, so a bad input among good ones leaves no Arrow schema or text
// header on stdout and no -o file, in every output format.
func TestBadInputWritesNothing(t *testing.T) {
	fx := makeRun(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "run")
	writeRunDir(t, good, fx, true)
	bad := filepath.Join(dir, "bad.arrows")
	if err := os.WriteFile(bad, []byte("not arrow\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{good, bad},
		{bad, good},
		{"-format", "tsv", good, bad},
		{"-format", "md", "-table", "pairs", good, bad},
		{"-summary", good, bad},
		{"-table", "runs", good, bad},
	} {
		out, stderr, code := runCmd(t, nil, args...)
		if code != 1 || out != "" || !strings.Contains(stderr, "bad.arrows: not an Arrow IPC stream") {
			t.Errorf("%q: exit %d, %d bytes on stdout, stderr %q; want 1, none, the bad file named", args, code, len(out), stderr)
		}
	}
	o := filepath.Join(dir, "out.arrow")
	if _, _, code := runCmd(t, nil, "-o", o, good, bad); code != 1 {
		t.Errorf("-o: exit %d, want 1", code)
	}
	if _, err := os.Stat(o); !os.IsNotExist(err) {
		t.Errorf("-o %s exists after a bad input (%v)", o, err)
	}
	if out, _, code := runCmd(t, nil, good); code != 0 || len(out) == 0 {
		t.Errorf("the good run alone: exit %d, %d bytes", code, len(out))
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"-table", "x"}, `gradstat: unknown -table "x"`},
		{[]string{"-format", "xml"}, `gradstat: unknown -format "xml"`},
		{[]string{"-every", "0", "-summary"}, "gradstat: -every must be at least 1"},
		{[]string{"/nonexistent/run"}, "gradstat: stat /nonexistent/run"},
		{[]string{"-bogus"}, "gradstat: flag provided but not defined: -bogus"},
		{[]string{"-table", "attriblabel"}, "gradstat: -data and -table attriblabel go together"},
		{[]string{"-data", "d.arrow", "-table", "attrib"}, "gradstat: -data and -table attriblabel go together"},
	} {
		_, stderr, code := runCmd(t, nil, tc.args...)
		if code != 2 || !strings.HasPrefix(stderr, tc.stderr) {
			t.Errorf("%v: exit %d stderr %q, want 2 and %q", tc.args, code, stderr, tc.stderr)
		}
	}
	out, _, code := runCmd(t, nil, "-h")
	if code != 0 || !strings.Contains(out, "gradstat [flags] [run.arrows|DIR|-]...") {
		t.Errorf("-h: exit %d\n%s", code, out)
	}
	// Arrow to a terminal (a pseudo-terminal's master) is refused; /dev/null
	// is a character device but no terminal.
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skip(err)
	}
	defer tty.Close()
	var errb bytes.Buffer
	env := &cli.Env{Name: "gradstat", Args: nil, Stdin: bytes.NewReader(nil), Stdout: tty, Stderr: &errb}
	if code := cli.Run(context.Background(), env, run); code != 2 || !strings.Contains(errb.String(), "use -format tsv, -summary") {
		t.Errorf("terminal: exit %d stderr %q", code, errb.String())
	}
}

// TestRunsTableAndBy: a sweep of three copies of the fixture run; the runs
// table has one row per run with its labels, -by loss groups them (in order
// of first appearance) with the mean equal to the per-run value and sd 0
// over identical runs, and every output format carries it.
func TestRunsTableAndBy(t *testing.T) {
	root := t.TempDir()
	fx := makeRun(t)
	for _, p := range []string{"loss=dpo/seed=1", "loss=dpo/seed=2", "loss=ipo/seed=1"} {
		writeRunDir(t, filepath.Join(root, p), fx, true)
	}
	out, stderr, code := runCmd(t, nil, "-table", "runs", "-format", "tsv", root)
	if code != 0 {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	rows := parseTSV(t, out)
	if len(rows) != 3 || rows[0]["loss"] != "dpo" || rows[1]["seed"] != "2" || rows[2]["loss"] != "ipo" {
		t.Fatalf("runs rows %v", rows)
	}
	cos := num(t, rows[0], "train_cos_mean")
	out, _, code = runCmd(t, nil, "-by", "loss", "-format", "tsv", root)
	if code != 0 {
		t.Fatal(code)
	}
	agg := parseTSV(t, out)
	if len(agg) != 2 || agg[0]["loss"] != "dpo" || agg[0]["runs"] != "2" || agg[1]["runs"] != "1" {
		t.Fatalf("-by rows %v", agg)
	}
	wantNum(t, agg[0], "train_cos_mean_mean", cos)
	wantNum(t, agg[0], "train_cos_mean_sd", 0)
	if agg[1]["train_cos_mean_sd"] != "" {
		t.Errorf("sd of one run = %q, want null", agg[1]["train_cos_mean_sd"])
	}
	out, _, code = runCmd(t, nil, "-by", "loss", "-cols", "loss,runs,train_cos_mean", "-format", "md", root)
	if code != 0 || !strings.HasPrefix(out, "| loss | runs | train_cos_mean |\n|---|---|---|\n| dpo | 2 | ") {
		t.Errorf("md (exit %d):\n%s", code, out)
	}
	out, _, code = runCmd(t, nil, "-by", "loss", root)
	if code != 0 {
		t.Fatal(code)
	}
	rd, err := ipc.NewReader(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	sc := rd.Schema()
	if v, _ := sc.Metadata().GetValue("by"); v != "loss" {
		t.Errorf("by metadata %q", v)
	}
	if v, _ := sc.Metadata().GetValue("format_version"); v != "1" {
		t.Errorf("format_version %q", v)
	}
	for name, typ := range map[string]arrow.DataType{"loss": arrow.BinaryTypes.String, "runs": arrow.PrimitiveTypes.Int64,
		"fo_n_mean": arrow.PrimitiveTypes.Float64, "fo_n_n": arrow.PrimitiveTypes.Int64} {
		if i := sc.FieldIndices(name); len(i) != 1 || !arrow.TypeEqual(sc.Field(i[0]).Type, typ) {
			t.Errorf("column %s: %v", name, i)
		}
	}
	if _, _, code := runCmd(t, nil, "-table", "steps", "-by", "loss", root); code != 2 {
		t.Errorf("-by with -table steps: exit %d, want 2", code)
	}
	if _, _, code := runCmd(t, nil, "-by", "nope", "-format", "tsv", root); code != 2 {
		t.Errorf("-by unknown key: exit %d, want 2", code)
	}
}

// TestOutputIsInput: -o naming one of the inputs, by its path or through a
// hard link, is refused before anything is written (exit 2, pkg/cli's
// CheckOutput), and the input is left as it was.
func TestOutputIsInput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	writeRunDir(t, dir, makeRun(t), true)
	steps := filepath.Join(dir, "steps.arrows")
	before, _ := os.ReadFile(steps)
	link := filepath.Join(filepath.Dir(dir), "link.arrows")
	if err := os.Link(steps, link); err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{steps, filepath.Join(dir, ".", "steps.arrows"), link} {
		_, stderr, code := runCmd(t, nil, "-o", o, dir)
		if code != 2 || !strings.Contains(stderr, "is also an input") {
			t.Errorf("-o %s: exit %d, stderr %q", o, code, stderr)
		}
	}
	if after, _ := os.ReadFile(steps); !bytes.Equal(before, after) {
		t.Error("the input was changed")
	}
}
