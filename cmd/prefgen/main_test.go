package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entangle/pkg/cli"
	"entangle/pkg/prefdata"
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
	if code != cli.ExitData || stderr != fmt.Sprintf("prefgen: %s:2: missing field \"rejected\"\n", bad) {
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
