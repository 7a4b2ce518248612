package hfmodel

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"entangle/internal/torchtest"
	"entangle/pkg/model"
)

// TestPeakRSS124M measures, in a fresh process, the peak resident memory
// (VmHWM) of loading a GPT-2 small directory (124M parameters, context
// 1024) and computing one 128-token sequence's response log-prob (64
// response tokens) and its gradient wrt every parameter. The figure must stay
// within the parameters, one gradient buffer and one workspace sized for 128
// tokens (model.WorkspaceBytes), plus 20% and 64 MiB for the runtime: a
// workspace sized for the whole context, or a second copy of the parameters,
// would exceed it. Opt-in: ENTANGLE_GPT2_DIR (real weights) or
// ENTANGLE_ORACLE_124M=1 (random weights written by the oracle).
func TestPeakRSS124M(t *testing.T) {
	if dir := os.Getenv("ENTANGLE_RSS_CHILD"); dir != "" {
		rssChild(dir)
		return
	}
	dir := os.Getenv("ENTANGLE_GPT2_DIR")
	if dir == "" {
		if os.Getenv("ENTANGLE_ORACLE_124M") != "1" {
			t.Skip("set ENTANGLE_GPT2_DIR or ENTANGLE_ORACLE_124M=1 to measure the peak memory at 124M")
		}
		torchtest.Require(t)
		dir = filepath.Join(t.TempDir(), "gpt2")
		runPy(t, 20*time.Minute, "write", dir, "--vocab", "50257", "--positions", "1024", "--width", "768", "--layers", "12",
			"--heads", "12", "--seed", "3", "--scale", "0.02")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSS124M$")
	cmd.Env = append(os.Environ(), "ENTANGLE_RSS_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var hwm, lp float64
	var cfg model.Config
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "rss "); ok {
			fmt.Sscanf(rest, "%g %g %d %d %d %d %d", &hwm, &lp, &cfg.V, &cfg.T, &cfg.C, &cfg.L, &cfg.H)
		}
	}
	if hwm == 0 {
		t.Fatalf("child printed no figure:\n%s", out)
	}
	cfg.Tied = true
	P := float64(model.NumParams(cfg)) * 4
	ws := model.WorkspaceBytes(cfg, 128, 4)
	bound := 1.2*(2*P+ws) + 64<<20
	t.Logf("VmHWM %.0f MiB (parameters %.0f MiB, gradient %.0f MiB, workspace at 128 tokens %.0f MiB; at the full context it would be %.0f MiB); response log-prob %.4f",
		hwm/(1<<20), P/(1<<20), P/(1<<20), ws/(1<<20), model.WorkspaceBytes(cfg, cfg.T, 4)/(1<<20), lp)
	if hwm > bound {
		t.Errorf("VmHWM %.0f MiB exceeds %.0f MiB", hwm/(1<<20), bound/(1<<20))
	}
}

// rssChild loads dir, runs one sequence forward and backward, and prints
// "rss VmHWM logπ V T C L H".
func rssChild(dir string) {
	hm, err := Load(dir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	m := &model.Model[float32]{Cfg: hm.Config, Params: hm.Params} // adopt the loaded buffer
	hm.Params = nil
	rng := rand.New(rand.NewPCG(1, 1))
	toks := make([]int32, 128)
	for i := range toks {
		toks[i] = int32(rng.IntN(m.Cfg.V))
	}
	ws := m.NewSerialWorkspace()
	lp := ws.Forward(toks, 64)
	var sum float64
	for _, x := range lp {
		sum += float64(x)
	}
	ones := make([]float32, len(lp))
	for i := range ones {
		ones[i] = 1
	}
	grad := make([]float32, len(m.Params))
	ws.BackwardSet(grad, ones)
	c := m.Cfg
	fmt.Printf("rss %g %g %d %d %d %d %d\n", vmHWM(), sum, c.V, c.T, c.C, c.L, c.H)
}

// vmHWM returns the process's peak resident set size in bytes.
func vmHWM() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			fs := strings.Fields(rest)
			if v, err := strconv.ParseFloat(fs[0], 64); err == nil && len(fs) == 2 && fs[1] == "kB" {
				return v * 1024
			}
		}
	}
	return 0
}
