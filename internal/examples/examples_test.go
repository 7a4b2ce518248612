package examples

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// helps are the help screens whose examples are run, in this order.
var helps = [][]string{
	{"prefgen", "-h"}, {"prefgen", "import", "-h"}, {"prefgen", "export", "-h"},
	{"train", "-h"},
	{"sweep", "-h"},
	{"gradstat", "-h"},
	{"plot", "-h"}, {"plot", "report", "-h"},
}

// setup makes the files and runs the examples name, with tiny models: two
// datasets (the bytes the examples that write them write), an SFT model,
// preference runs, two sweeps and a spec, a JSONL file, and an interrupted
// SFT run for train -resume.
var setup = []string{
	"prefgen 1t -vocab 64 -o 1t.arrow",                 // as train -h writes it
	"prefgen long-suffix -n 512 -seed 1 -o long.arrow", // as prefgen -h writes it
	"prefgen export 1t.arrow > pairs.jsonl",
	"train -model tiny -vocab-size 128 -context 48 -steps 40 -q -out runs/sft long.arrow",
	"train -mode pref -init runs/sft/model.safetensors -steps 10 -probe 4 -dump-every 5 -q -out runs/dpo long.arrow",
	"train -mode pref -init runs/sft/model.safetensors -steps 10 -probe 4 -dump-every 5 -grads full -token-grads 1 -q -out runs/long long.arrow",
	"train -mode pref -init runs/sft/model.safetensors -steps 10 -probe 4 -dump-every 5 -q -out runs/dpo-1t 1t.arrow",
	"train -mode pref -init runs/sft/model.safetensors -steps 41 -probe 4 -dump-every 13 -grads full -token-grads 1 -q -out runs/dpo-long long.arrow",
	`printf '%s\n' 'root sweeps/losses' 'axis task 1t' 'axis loss dpo ipo' 'axis seed 1 2' \
		'cmd train -mode pref -init runs/sft/model.safetensors -loss {loss} -seed {seed} -steps 6 -probe 4 -dump-every 5 -q -force -out {dir} {task}.arrow' \
		'resume checkpoint.safetensors train -resume {dir} -q {task}.arrow' > losses.sweep`,
	"sed 's|sweeps/losses|sweeps/loss-cmp|' losses.sweep > loss-cmp.sweep && sweep run loss-cmp.sweep && sweep run losses.sweep",
}

// fixtures are the repository's test files that stand in for the model
// directory and the public datasets prefgen import's examples name (the
// same formats, a few pairs each): path in the work directory → path from
// the module root.
var fixtures = map[string]string{
	"gpt2/vocab.json":                                 "pkg/tokenizer/testdata/tiny/vocab.json",
	"gpt2/merges.txt":                                 "pkg/tokenizer/testdata/tiny/merges.txt",
	"gpt2/tokenizer_config.json":                      "pkg/tokenizer/testdata/tiny/tokenizer_config.json",
	"hh-rlhf/helpful-base/train.jsonl.gz":             "pkg/prefdata/testdata/import/hh.jsonl.gz",
	"ultrafeedback_binarized/train_prefs.parquet":     "pkg/prefdata/testdata/import/ultrafeedback.parquet",
	"tldr.jsonl":                                      "pkg/prefdata/testdata/import/tldr.jsonl",
	"summarize_from_feedback/comparisons/batch3.json": "pkg/prefdata/testdata/import/summarize.jsonl",
}

// stubs stand in for programs the examples hand their output to.
var stubs = map[string]string{
	"sbatch":   "#!/bin/sh\nexec bash -n \"$1\"\n",                                     // a syntax check of the job script
	"parallel": "#!/bin/sh\nwhile IFS= read -r l; do bash -c \"$l\" || exit 1; done\n", // run the lines one by one
	"chromium": "#!/bin/sh\ntest -s \"$1\"\n",                                          // the page exists
}

// examples returns the example lines of a help screen.
func examples(help string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(help, "\n") {
		switch {
		case l == "Examples:":
			in = true
		case in && strings.TrimSpace(l) == "":
			return out
		case in:
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

func TestExamplesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tools and trains tiny models")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	build := exec.Command("go", "build", "-o", bin+string(os.PathSeparator), "./cmd/...")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for name, script := range stubs {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	work := filepath.Join(tmp, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	for dst, src := range fixtures {
		b, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(work, dst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "GOMAXPROCS=1")
	// A pipeline fails if any of its commands does, except by SIGPIPE
	// (status 141) when a reader such as head stops reading early.
	sh := func(line string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", line)
		c.Dir, c.Env = work, env
		c.WaitDelay = time.Second
		var b bytes.Buffer
		c.Stdout, c.Stderr = &b, &b
		err := c.Run()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 141 {
			err = nil
		}
		return b.String(), err
	}
	for _, l := range setup {
		if out, err := sh(l); err != nil {
			t.Fatalf("setup %q: %v\n%s", l, err, out)
		}
	}
	interrupted(t, bin, work, env)
	n := 0
	for _, h := range helps {
		c := exec.Command(filepath.Join(bin, h[0]), h[1:]...)
		out, err := c.Output()
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(h, " "), err)
		}
		ex := examples(string(out))
		if len(ex) == 0 {
			t.Errorf("%s prints no examples", strings.Join(h, " "))
		}
		for _, l := range ex {
			n++
			if out, err := sh(l); err != nil {
				t.Errorf("%s: example %q: %v\n%s", strings.Join(h, " "), l, err, out)
			}
		}
	}
	t.Logf("%d examples ran", n)
}

// interrupted leaves runs/sft-long as an SFT run stopped by SIGINT, with the
// checkpoint train -resume continues from.
func interrupted(t *testing.T, bin, work string, env []string) {
	t.Helper()
	c := exec.Command(filepath.Join(bin, "train"), "-model", "tiny", "-vocab-size", "128", "-context", "48", "-steps", "600", "-q", "-out", "runs/sft-long", "long.arrow")
	c.Dir, c.Env = work, env
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	steps := filepath.Join(work, "runs", "sft-long", "steps.arrows")
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, err := os.Stat(steps); err == nil && st.Size() > 4096 {
			break
		}
	}
	c.Process.Signal(os.Interrupt)
	c.Wait() // train exits nonzero when interrupted; the checkpoint is what matters
	if _, err := os.Stat(filepath.Join(work, "runs", "sft-long", "checkpoint.safetensors")); err != nil {
		t.Fatalf("interrupted SFT run: %v", err)
	}
}
