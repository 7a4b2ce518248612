package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entangle/pkg/cli"
	"entangle/pkg/optim"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
	"entangle/pkg/safetensors"
	"entangle/pkg/train"
)

// trainCmd runs the command in process and returns stdout, stderr and the exit code.
func trainCmd(t *testing.T, ctx context.Context, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cli.Env{Name: "train", Args: args, Stdin: bytes.NewReader(stdin), Stdout: &out, Stderr: &errb}
	code := cli.Run(ctx, env, run)
	return out.String(), errb.String(), code
}

// dataset writes a synthetic dataset to dir and returns its path.
func dataset(t *testing.T, dir, preset string, vocab int) string {
	t.Helper()
	g := prefdata.DefaultGenConfig()
	if err := g.ApplyPreset(preset); err != nil {
		t.Fatal(err)
	}
	g.Vocab, g.NSFT, g.NTrain, g.NTest = vocab, 64, 16, 16
	d, err := prefdata.Generate(g)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := prefdata.WriteStream(&b, d); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, preset+"-"+itoa(vocab)+".arrows")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHelpAndUsageErrors(t *testing.T) {
	ctx := context.Background()
	out, stderr, code := trainCmd(t, ctx, nil, "-h")
	if code != 0 || !strings.Contains(out, "usage: train") || !strings.Contains(out, "Examples:") || !strings.Contains(out, "-resume") || stderr != "" {
		t.Fatalf("-h: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	dir := t.TempDir()
	nonEmpty := filepath.Join(dir, "full")
	os.MkdirAll(nonEmpty, 0o755)
	os.WriteFile(filepath.Join(nonEmpty, "x"), nil, 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-bogus"}, "train: flag provided but not defined: -bogus"},
		{[]string{"x.arrow"}, "train: -out DIR is required"},
		{[]string{"-out", dir + "/r", "-lr", "0"}, "train: -lr must be > 0, got 0"},
		{[]string{"-out", dir + "/r", "-lr", "-1"}, "train: -lr must be > 0"},
		{[]string{"-out", dir + "/r", "-batch", "0"}, "train: -batch must be at least 1, got 0"},
		{[]string{"-out", dir + "/r", "-steps", "-2"}, "train: -steps must be ≥ 0"},
		{[]string{"-out", dir + "/r", "-momentum", "0.9"}, "train: -momentum applies to -optim sgd only"},
		{[]string{"-out", dir + "/r", "-optim", "sgd", "-momentum", "1"}, "train: -momentum must be in [0, 1)"},
		{[]string{"-out", dir + "/r", "-optim", "sgd", "-adam-eps", "1e-6"}, "train: -adam-eps applies to -optim adamw only"},
		{[]string{"-out", dir + "/r", "-adam-beta1", "1"}, "train: -adam-beta1/-adam-beta2/-adam-eps: adam β1 must be in [0, 1), got 1"},
		{[]string{"-out", dir + "/r", "-adam-beta2", "-0.5"}, "train: -adam-beta1/-adam-beta2/-adam-eps: adam β2 must be in [0, 1), got -0.5"},
		{[]string{"-out", dir + "/r", "-adam-eps", "0"}, "train: -adam-beta1/-adam-beta2/-adam-eps: adam ε must be > 0 and finite, got 0"},
		{[]string{"-out", dir + "/r", "-decay", "exp"}, "train: -decay must be cosine, linear or constant"},
		{[]string{"-out", dir + "/r", "-min-lr", "1"}, "train: -min-lr must be in [0, lr=0.001]"},
		{[]string{"-out", dir + "/r", "-clip", "-1"}, "train: -clip must be ≥ 0"},
		{[]string{"-out", dir + "/r", "-model", "XL"}, "train: -model: "},
		{[]string{"-out", dir + "/r", "-heads", "3"}, "train: model: "},
		{[]string{"-out", dir + "/r", "-init", "m.safetensors", "-layers", "3"}, "train: -layers conflicts with -init"},
		{[]string{"-out", dir + "/r", "-mode", "rlhf"}, "train: -mode must be sft, pref or dist"},
		{[]string{"-out", dir + "/r", "a", "b"}, "train: train reads one dataset, got 2"},
		{[]string{"-out", nonEmpty}, "is not empty (use -resume"},
		{[]string{"-resume", dir, "-lr", "0.1"}, "train: -resume takes the configuration from"},
		{[]string{"-out", dir + "/r", "-beta", "0.2"}, "train: -beta applies to -mode pref only"},
		{[]string{"-out", dir + "/r", "-mode", "pref"}, "train: -mode pref needs -init CHECKPOINT"},
		{[]string{"-out", dir + "/r", "-mode", "pref", "-init", "m", "-beta", "0"}, "train: sigmoid: "},
		{[]string{"-out", dir + "/r", "-mode", "pref", "-init", "m", "-beta", "x"}, "train: invalid value \"x\" for flag -beta"},
		{[]string{"-out", dir + "/r", "-mode", "pref", "-init", "m", "-loss", "nope"}, "train: -loss: unknown loss \"nope\""},
		{[]string{"-out", dir + "/r", "-mode", "pref", "-init", "m", "-grads", "sketch:0", "-dump-every", "1"}, "train: -grads must be full, sketch:K or countsketch:K"},
		{[]string{"-out", dir + "/r", "-mode", "pref", "-init", "m", "-token-grads", "2"}, "train: -token-grads 2 exceeds -probe 0"},
		{[]string{"-out", dir + "/r", "-mode", "pref", "-init", "m", "-sparse", "all"}, "train: -sparse must be none, oracle or learned, got \"all\""},
		{[]string{"-out", dir + "/r", "-mode", "pref", "-init", "m", "-attrib", "-dump-every", "2"}, "train: -attrib needs -probe N > 0 and -dump-every K > 0"},
		{[]string{"-out", dir + "/r", "-mode", "pref", "-init", "m", "-attrib", "-probe", "2"}, "train: -attrib needs -probe N > 0 and -dump-every K > 0"},
		{[]string{"-out", dir + "/r", "-attrib"}, "train: -attrib applies to -mode pref only"},
		{[]string{"-out", dir + "/r", "-mode", "pref", "-init", "m", "-attrib-update", "-probe", "2", "-dump-every", "2"}, "train: -attrib-update needs -attrib"},
		{[]string{"-out", dir + "/r", "-mode", "pref", "-init", "m", "-attrib", "-attrib-update", "-probe", "2", "-dump-every", "2", "-sparse", "learned"}, "train: -attrib-update cannot be used with -sparse learned (the gate moves during the gradient pass it repeats)"},
		// -sparse none passes validation: the error is the missing -init file.
		{[]string{"-out", dir + "/r", "-mode", "pref", "-init", "m", "-sparse", "none", "-token-grads", "1"}, "train: -token-grads 1 exceeds -probe 0"},
	} {
		out, stderr, code := trainCmd(t, ctx, nil, tc.args...)
		if code != 2 || out != "" || !strings.HasPrefix(stderr, tc.want) && !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestDataErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	big := dataset(t, dir, "1t", 128)          // vocabulary 128 > tiny's 64
	long := dataset(t, dir, "long-suffix", 64) // 24 suffix tokens: longer than tiny's context 32
	good := dataset(t, dir, "1t", 64)
	// A model file with its version changed, a truncated one.
	_, stderr, code := trainCmd(t, ctx, nil, "-q", "-steps", "2", "-out", filepath.Join(dir, "ok"), good)
	if code != 0 {
		t.Fatalf("good run: exit %d, %s", code, stderr)
	}
	modelPath := filepath.Join(dir, "ok", runfmt.ModelFile)
	b, _ := os.ReadFile(modelPath)
	trunc := filepath.Join(dir, "trunc.safetensors")
	os.WriteFile(trunc, b[:len(b)/2], 0o644)
	f, err := safetensors.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	f.Meta["format_version"] = "9"
	v9 := filepath.Join(dir, "v9.safetensors")
	if err := safetensors.WriteFile(v9, f.Tensors, f.Meta); err != nil {
		t.Fatal(err)
	}
	lt, _ := prefdata.Read(bytes.NewReader(mustRead(t, long)), "long")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{big}, "vocabulary has 128 tokens but the model's vocab_size is 64"},
		{[]string{long}, "longest sequence has " + itoa(lt.MaxLen()) + " tokens but the model's context is 32"},
		{[]string{"-init", trunc, good}, "train: checkpoint " + trunc + ": safetensors: "},
		{[]string{"-init", v9, good}, `format_version "9" is not supported (want "2" or older`},
		{[]string{"-init", modelPath, big}, "vocabulary has 128 tokens but the model's vocab_size is 64"},
		{[]string{filepath.Join(dir, "missing.arrow")}, "no such file"},
	} {
		args := append([]string{"-q", "-steps", "2", "-out", filepath.Join(dir, "r"), "-force"}, tc.args...)
		_, stderr, code := trainCmd(t, ctx, nil, args...)
		if code != 1 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, want exit 1 and %q", tc.args, code, stderr, tc.want)
		}
	}
	// A truncated dataset on stdin.
	data := mustRead(t, good)
	_, stderr, code = trainCmd(t, ctx, data[:len(data)/2], "-q", "-out", filepath.Join(dir, "r2"))
	if code != 1 || !strings.HasPrefix(stderr, "train: <stdin>") {
		t.Errorf("truncated stdin: exit %d, stderr %q", code, stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func itoa(n int) string {
	var b []byte
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// TestRunInterruptResume: a full run from stdin writes every output; a run
// whose context is cancelled stops with exit 1 and a message naming the
// checkpoint, leaves readable outputs, and -resume finishes it with the same
// final weights as the uninterrupted run.
func TestRunInterruptResume(t *testing.T) {
	dir := t.TempDir()
	data := mustRead(t, dataset(t, dir, "1t", 64))
	args := []string{"-steps", "12", "-eval-every", "4", "-batch", "8", "-lr", "1e-2"}
	full := filepath.Join(dir, "full")
	out, stderr, code := trainCmd(t, context.Background(), data, append(args, "-out", full)...)
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if !strings.Contains(stderr, "12/12 loss ") || !strings.Contains(stderr, "eval step 12: loss ") {
		t.Errorf("progress lines missing from stderr %q", stderr)
	}
	for _, f := range []string{runfmt.ConfigFile, runfmt.StepsFile, runfmt.CheckpointFile, runfmt.ModelFile} {
		if _, err := os.Stat(filepath.Join(full, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if done := string(mustRead(t, filepath.Join(full, runfmt.DoneFile))); done != "12\n" {
		t.Errorf("DONE holds %q, want the final step", done)
	}
	// -q silences progress.
	_, stderr, code = trainCmd(t, context.Background(), data, append(args, "-q", "-out", filepath.Join(dir, "quiet"))...)
	if code != 0 || stderr != "" {
		t.Errorf("-q: exit %d, stderr %q", code, stderr)
	}

	// Interrupted before the first step (the context is already cancelled).
	part := filepath.Join(dir, "part")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, stderr, code = trainCmd(t, ctx, data, append(args, "-q", "-out", part)...)
	want := "train: interrupted after step 0 of 12; checkpoint written to " + filepath.Join(part, runfmt.CheckpointFile)
	if code != 1 || !strings.HasPrefix(stderr, want) {
		t.Fatalf("interrupted: exit %d, stderr %q, want %q", code, stderr, want)
	}
	if _, err := train.ReadCheckpoint(filepath.Join(part, runfmt.CheckpointFile)); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = trainCmd(t, context.Background(), data, "-resume", part, "-q", "-")
	if code != 0 {
		t.Fatalf("resume: exit %d, stderr %q", code, stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(full, runfmt.ModelFile)), mustRead(t, filepath.Join(part, runfmt.ModelFile))) {
		t.Errorf("resumed model.safetensors differs from the uninterrupted run's")
	}
	// A finished run has nothing to resume.
	_, stderr, code = trainCmd(t, context.Background(), data, "-resume", part, "-q")
	if code != 1 || !strings.Contains(stderr, "is complete") {
		t.Errorf("resume of a finished run: exit %d, stderr %q", code, stderr)
	}
}

// TestAdamFlags: -adam-beta1/-adam-beta2/-adam-eps at PyTorch's defaults give
// the bytes of a run without them (config.json has no "adam" key); other
// values are recorded in config.json and change the weights, and an
// interrupted run resumes with them (the same weights as uninterrupted).
func TestAdamFlags(t *testing.T) {
	dir := t.TempDir()
	data := mustRead(t, dataset(t, dir, "1t", 64))
	args := []string{"-q", "-steps", "6", "-eval-every", "3", "-batch", "8", "-lr", "1e-2", "-ckpt-every", "3"}
	runs := map[string][]string{
		"plain":    nil,
		"explicit": {"-adam-beta1", "0.9", "-adam-beta2", "0.999", "-adam-eps", "1e-8"},
		"other":    {"-adam-beta2", "0.99", "-adam-eps", "1e-4"},
	}
	for name, extra := range runs {
		if _, stderr, code := trainCmd(t, context.Background(), data, append(append(args, extra...), "-out", filepath.Join(dir, name), "-")...); code != 0 {
			t.Fatalf("%s: exit %d, %s", name, code, stderr)
		}
	}
	file := func(run, f string) []byte { return mustRead(t, filepath.Join(dir, run, f)) }
	for _, f := range []string{runfmt.ConfigFile, runfmt.ModelFile, runfmt.CheckpointFile} {
		if !bytes.Equal(file("plain", f), file("explicit", f)) {
			t.Errorf("%s: the explicit defaults differ from no flags", f)
		}
	}
	if c := string(file("plain", runfmt.ConfigFile)); strings.Contains(c, `"adam":`) {
		t.Errorf("default config.json mentions adam:\n%s", c)
	}
	var cfg train.Config
	if err := json.Unmarshal(file("other", runfmt.ConfigFile), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Adam == nil || *cfg.Adam != (optim.Adam{Beta1: 0.9, Beta2: 0.99, Eps: 1e-4}) {
		t.Errorf("config.json adam = %+v, want β1 0.9 β2 0.99 ε 1e-4", cfg.Adam)
	}
	if bytes.Equal(file("plain", runfmt.ModelFile), file("other", runfmt.ModelFile)) {
		t.Error("-adam-beta2 0.99 -adam-eps 1e-4 gave the default run's weights")
	}
	// Interrupted at once, then resumed from the checkpoint's configuration.
	part := filepath.Join(dir, "part")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, code := trainCmd(t, ctx, data, append(append(args, runs["other"]...), "-out", part, "-")...); code != 1 {
		t.Fatalf("interrupted run: exit %d, want 1", code)
	}
	if _, stderr, code := trainCmd(t, context.Background(), data, "-resume", part, "-q", "-"); code != 0 {
		t.Fatalf("resume: exit %d, %s", code, stderr)
	}
	if !bytes.Equal(file("other", runfmt.ModelFile), mustRead(t, filepath.Join(part, runfmt.ModelFile))) {
		t.Error("the resumed run's weights differ from the uninterrupted run's")
	}
}

// TestPairsOutputSafety: -o may not be the dataset or the model it reads
// (exit 2, nothing changed), and a run that fails leaves an existing -o
// file as it was and creates none where there was none.
func TestPairsOutputSafety(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := dataset(t, dir, "1t", 64)
	if _, stderr, code := trainCmd(t, ctx, nil, "-q", "-steps", "2", "-out", filepath.Join(dir, "sft"), data); code != 0 {
		t.Fatalf("sft: exit %d, %s", code, stderr)
	}
	model := filepath.Join(dir, "sft", runfmt.ModelFile)
	dataBytes, modelBytes := mustRead(t, data), mustRead(t, model)
	for i, o := range []string{data, model} {
		_, stderr, code := trainCmd(t, ctx, nil, "-q", "-mode", "pref", "-steps", "2", "-init", model,
			"-out", filepath.Join(dir, "r"+itoa(i)), "-o", o, data)
		if code != 2 || !strings.Contains(stderr, "also an input") {
			t.Errorf("-o %s: exit %d, %q; want exit 2, the output is an input", o, code, stderr)
		}
	}
	if !bytes.Equal(mustRead(t, data), dataBytes) || !bytes.Equal(mustRead(t, model), modelBytes) {
		t.Fatal("an input changed")
	}
	old := filepath.Join(dir, "old.arrows")
	if err := os.WriteFile(old, []byte("previous pairs"), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh.arrows")
	for _, o := range []string{old, fresh} {
		_, _, code := trainCmd(t, ctx, nil, "-q", "-mode", "pref", "-steps", "2", "-init", filepath.Join(dir, "missing.safetensors"),
			"-out", filepath.Join(dir, "bad-"+filepath.Base(o)), "-o", o, data)
		if code != 1 {
			t.Errorf("-o %s with a missing -init: exit %d, want 1", o, code)
		}
	}
	if got := string(mustRead(t, old)); got != "previous pairs" {
		t.Errorf("a failed run replaced -o's file: %q", got)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("a failed run created -o's file (stat: %v)", err)
	}
}
