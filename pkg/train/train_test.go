package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
	"entangle/pkg/safetensors"
)

// data1t returns a small sentiment "1t" dataset (the response is the label
// token alone) over the tiny preset's vocabulary of 64.
func data1t(t testing.TB, nsft int) *prefdata.Dataset {
	t.Helper()
	g := prefdata.DefaultGenConfig()
	if err := g.ApplyPreset("1t"); err != nil {
		t.Fatal(err)
	}
	g.Vocab, g.NSFT, g.NTrain, g.NTest = 64, nsft, 32, 64
	d, err := prefdata.Generate(g)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testConfig(t testing.TB, d *prefdata.Dataset, steps int) Config {
	t.Helper()
	c := DefaultConfig()
	c.Steps, c.Epochs, c.LR, c.MinLR, c.Warmup, c.EvalEvery, c.Batch = steps, 0, 1e-2, 0, 5, 10, 8
	if err := Prepare(&c, d); err != nil {
		t.Fatal(err)
	}
	return c
}

func readSteps(t *testing.T, dir string) []StepRow {
	t.Helper()
	r, err := runfmt.NewStepReader(bytes.NewReader(readFile(t, filepath.Join(dir, runfmt.StepsFile))), runfmt.StepsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var rows []StepRow
	for r.Next() {
		rows = append(rows, r.Rows()...)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// sameRows compares metrics rows bit for bit, except the wall-time column ms.
func sameRows(t *testing.T, a, b []StepRow) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d rows vs %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		x.Ms, y.Ms = 0, 0
		fx, fy := rowFloats(&x), rowFloats(&y)
		for j := range fx {
			if math.Float64bits(*fx[j]) != math.Float64bits(*fy[j]) {
				t.Fatalf("row %d (step %d %s) float column %d: %v vs %v", i, x.Step, x.Kind, j, *fx[j], *fy[j])
			}
		}
		if x.Step != y.Step || x.Kind != y.Kind {
			t.Fatalf("row %d: %d %s vs %d %s", i, x.Step, x.Kind, y.Step, y.Kind)
		}
	}
}

func rowFloats(r *StepRow) []*float64 {
	return []*float64{&r.LR, &r.Loss, &r.GradNorm, &r.Ms, &r.TokenAcc, &r.Margin,
		&r.LogpChosen, &r.LogpRejected, &r.LogpChosenTok, &r.LogpRejectedTok,
		&r.RewardsChosen, &r.RewardsRejected, &r.RewardsMargins, &r.RewardsAccuracies, &r.CosMean,
		&r.BatchDot, &r.BatchWW, &r.BatchLL}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOrder(t *testing.T) {
	o := Order{N: 10, Batch: 4, Seed: 3}
	if o.StepsPerEpoch() != 3 {
		t.Fatalf("steps per epoch %d, want ceil(10/4) = 3", o.StepsPerEpoch())
	}
	var epochs [2][]int
	for s := range 6 {
		b := o.BatchOf(s)
		if want := []int{4, 4, 2}[s%3]; len(b) != want {
			t.Fatalf("step %d: batch of %d, want %d", s, len(b), want)
		}
		epochs[s/3] = append(epochs[s/3], b...)
	}
	for e, ids := range epochs {
		sorted := slices.Sorted(slices.Values(ids))
		for i, x := range sorted {
			if x != i {
				t.Fatalf("epoch %d visits %v, not a permutation of 0..9", e, ids)
			}
		}
	}
	if slices.Equal(epochs[0], epochs[1]) {
		t.Fatalf("epochs 0 and 1 have the same order %v", epochs[0])
	}
	// A fresh Order (as after -resume) gives the same batch for any step.
	o2 := Order{N: 10, Batch: 4, Seed: 3}
	if !slices.Equal(o2.BatchOf(4), epochs[1][4:8]) {
		t.Fatalf("step 4 from a fresh Order differs")
	}
}

// TestSFTGradMatchesModel checks the lane implementation of the SFT step
// against the model's own batch helpers: the loss against −mean of
// model.LogProbs, the gradient against model.AccumulateGrads seeded with
// dlogp = −1/N.
func TestSFTGradMatchesModel(t *testing.T) {
	d := data1t(t, 16)
	cfg, _ := model.Preset("tiny")
	m := model.New[float32](cfg)
	m.Init(7)
	defer m.Close()
	ex := d.Select(prefdata.SplitTest)[:11] // 11: not a multiple of the lane count
	// Two-token responses (chosen then rejected label), so that N differs from
	// the number of sequences.
	var seqs []model.Seq
	for i := range ex {
		s := seqOf(ex[i].Prompt, append(slices.Clone(ex[i].Chosen), ex[i].Rejected...))
		seqs = append(seqs, s)
	}
	N := 0
	for _, s := range seqs {
		N += len(s.Tokens) - s.RespStart
	}
	grad := make([]float32, len(m.Params))
	loss, _ := newLanes(m, model.Lanes).sftGrad(grad, seqs)

	var want float64
	dls := make([][]float32, len(seqs))
	for i, lp := range m.LogProbs(seqs) {
		for _, x := range lp {
			want -= float64(x)
		}
		dls[i] = make([]float32, len(lp))
		for j := range lp {
			dls[i][j] = float32(-1 / float64(N))
		}
	}
	want /= float64(N)
	if math.Abs(loss-want) > 1e-9*math.Abs(want) {
		t.Fatalf("loss %v, want %v", loss, want)
	}
	ref := make([]float32, len(m.Params))
	m.AccumulateGrads(ref, seqs, dls)
	// Both sum the same per-lane float32 buffers in lane order: bit-identical.
	for j := range ref {
		if ref[j] != grad[j] {
			t.Fatalf("grad[%d] = %v, model.AccumulateGrads gives %v", j, grad[j], ref[j])
		}
	}
	// Fewer workers (the memory cap), and batches with lanes left empty, give
	// the same bits: the lanes are added in lane order whatever runs them.
	for _, count := range []int{1, 3, len(seqs)} {
		ref := make([]float32, len(m.Params))
		newLanes(m, model.Lanes).sftGrad(ref, seqs[:count])
		for n := 1; n < model.Lanes; n++ {
			got := make([]float32, len(m.Params))
			got[0] = 42 // the destination is overwritten, not added to
			l := newLanes(m, n)
			if len(l.ws) != n {
				t.Fatalf("newLanes(%d): %d workers", n, len(l.ws))
			}
			lossN, _ := l.sftGrad(got, seqs[:count])
			if count == len(seqs) && lossN != loss {
				t.Errorf("%d workers: loss %v, %d workers %v", n, lossN, model.Lanes, loss)
			}
			for j := range ref {
				if math.Float32bits(ref[j]) != math.Float32bits(got[j]) {
					t.Fatalf("%d sequences on %d workers: grad[%d] = %v, on %d workers %v", count, n, j, got[j], model.Lanes, ref[j])
				}
			}
		}
	}
}

// TestArgmaxHits checks the token accuracy against brute force on
// one-token responses: the model's argmax is the candidate v whose sequence
// prompt+v has the highest log-prob.
func TestArgmaxHits(t *testing.T) {
	d := data1t(t, 256)
	// A briefly trained model, so that the chosen label is usually the argmax
	// (hits) and the rejected label usually is not (misses): both outcomes
	// are checked.
	c := testConfig(t, d, 40)
	dir := t.TempDir()
	if err := Run(context.Background(), c, d, Options{Dir: dir, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	ck, err := ReadCheckpoint(filepath.Join(dir, runfmt.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg := ck.Model
	m := model.New[float32](cfg)
	copy(m.Params, ck.Params)
	defer m.Close()
	ws := m.NewWorkspace()
	var outcomes [2]int // misses, hits
	for _, e := range d.Select(prefdata.SplitTest) {
		best, arg := math.Inf(-1), -1
		for v := range cfg.V {
			lp := ws.Forward(append(slices.Clone(e.Prompt), int32(v)), len(e.Prompt))
			if float64(lp[0]) > best {
				best, arg = float64(lp[0]), v
			}
		}
		for _, resp := range [][]int32{e.Chosen, e.Rejected} {
			s := seqOf(e.Prompt, resp)
			ws.Forward(s.Tokens, s.RespStart)
			got, want := argmaxHits(ws.Hidden(), headOf(m), s, cfg.C), b2i(int32(arg) == resp[0])
			if got != want {
				t.Fatalf("pair %d target %d: argmaxHits %d, brute force %d (argmax %d)", e.ID, resp[0], got, want, arg)
			}
			outcomes[want]++
		}
	}
	if outcomes[0] == 0 || outcomes[1] == 0 {
		t.Fatalf("only one outcome was tested: %d misses, %d hits", outcomes[0], outcomes[1])
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestCheckpointRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := model.Preset("tiny")
	m := model.New[float32](cfg)
	m.Init(1)
	P := len(m.Params)
	mv := make([]float32, P)
	for i := range mv {
		mv[i] = float32(i) * 0.5
	}
	tc := DefaultConfig()
	tc.Steps = 9
	ck := &Checkpoint{Model: cfg, Params: m.Params, Train: tc, Step: 4, Mode: ModeSFT, M: mv, V: mv, OptimT: 4}
	path := filepath.Join(dir, "c.safetensors")
	if err := WriteCheckpoint(path, ck); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != cfg || got.Step != 4 || got.OptimT != 4 || got.Mode != ModeSFT || got.Train.JSON() != tc.JSON() ||
		!slices.Equal(got.Params, m.Params) || !slices.Equal(got.M, mv) || !slices.Equal(got.V, mv) {
		t.Fatalf("round trip differs")
	}
	b := readFile(t, path)
	// Truncated.
	trunc := filepath.Join(dir, "trunc.safetensors")
	os.WriteFile(trunc, b[:len(b)-100], 0o644)
	if _, err := ReadCheckpoint(trunc); err == nil || !strings.Contains(err.Error(), trunc) {
		t.Fatalf("truncated: err %v", err)
	}
	// Another version, another format.
	f, _ := safetensors.ReadFile(path)
	for _, tc := range []struct{ key, val, want string }{
		{"format_version", "3", `format_version "3" is not supported`},
		{"format", "entangle.other", `is not an entangle checkpoint`},
	} {
		meta := map[string]string{}
		for k, v := range f.Meta {
			meta[k] = v
		}
		meta[tc.key] = tc.val
		p := filepath.Join(dir, tc.val+".safetensors")
		if err := safetensors.WriteFile(p, f.Tensors, meta); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadCheckpoint(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s=%s: err %v, want %q", tc.key, tc.val, err, tc.want)
		}
	}
}

// TestResumeBitIdentical runs N steps uninterrupted, and k < N steps, an
// interruption, then -resume to N: the final weights, checkpoints and
// metrics (except ms) must be identical.
func TestResumeBitIdentical(t *testing.T) {
	d := data1t(t, 64)
	const N, k = 20, 7
	for _, optimName := range []string{"adamw", "sgd"} {
		t.Run(optimName, func(t *testing.T) {
			cfg := testConfig(t, d, N)
			cfg.Optim = optimName
			if optimName == "sgd" {
				cfg.Momentum, cfg.LR = 0.9, 0.05
			}
			full := filepath.Join(t.TempDir(), "full")
			if err := Run(context.Background(), cfg, d, Options{Dir: full, Quiet: true}); err != nil {
				t.Fatal(err)
			}
			part := filepath.Join(t.TempDir(), "part")
			ctx, cancel := context.WithCancel(context.Background())
			hook := func(s int) {
				if s == k {
					cancel()
				}
			}
			err := Run(ctx, cfg, d, Options{Dir: part, Quiet: true, AfterStep: hook})
			if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "after step 7 of 20") {
				t.Fatalf("interrupted run: err %v", err)
			}
			// The interrupted run's outputs are readable: rows up to k, a checkpoint at k, no DONE.
			rows := readSteps(t, part)
			if last := rows[len(rows)-1]; last.Step != k {
				t.Fatalf("interrupted stream ends at step %d, want %d", last.Step, k)
			}
			ck, err := ReadCheckpoint(filepath.Join(part, runfmt.CheckpointFile))
			if err != nil || ck.Step != k {
				t.Fatalf("checkpoint: %v, step %v", err, ck)
			}
			if _, err := os.Stat(filepath.Join(part, runfmt.DoneFile)); err == nil {
				t.Fatalf("DONE written by an interrupted run")
			}
			if err := Resume(context.Background(), d, Options{Dir: part, Quiet: true}); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{runfmt.ModelFile, runfmt.CheckpointFile, runfmt.ConfigFile, runfmt.DoneFile} {
				if !bytes.Equal(readFile(t, filepath.Join(full, f)), readFile(t, filepath.Join(part, f))) {
					t.Errorf("%s differs between the uninterrupted and the resumed run", f)
				}
			}
			sameRows(t, readSteps(t, full), readSteps(t, part))
		})
	}
}

func TestResumeRefusesOtherData(t *testing.T) {
	d := data1t(t, 32)
	cfg := testConfig(t, d, 4)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, cfg, d, Options{Dir: dir, Quiet: true}); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err %v", err)
	}
	other := data1t(t, 33)
	if err := Resume(context.Background(), other, Options{Dir: dir, Quiet: true}); err == nil || !strings.Contains(err.Error(), "other data") {
		t.Fatalf("resume on other data: %v", err)
	}
}

// TestDeterministicAcrossGOMAXPROCS runs the same config with GOMAXPROCS 1
// and 2: identical checkpoint bytes and metrics except ms.
func TestDeterministicAcrossGOMAXPROCS(t *testing.T) {
	d := data1t(t, 64)
	cfg := testConfig(t, d, 12)
	var dirs []string
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		dir := t.TempDir()
		if err := Run(context.Background(), cfg, d, Options{Dir: dir, Quiet: true}); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	for _, f := range []string{runfmt.CheckpointFile, runfmt.ModelFile} {
		if !bytes.Equal(readFile(t, filepath.Join(dirs[0], f)), readFile(t, filepath.Join(dirs[1], f))) {
			t.Errorf("%s differs between GOMAXPROCS 1 and 2", f)
		}
	}
	sameRows(t, readSteps(t, dirs[0]), readSteps(t, dirs[1]))
}

// TestSFTLaneCapSameBytes: an SFT run capped to fewer lanes by the memory
// available (ENTANGLE_MEMORY just above the estimate with 1 or 2 lanes)
// writes the same checkpoint and metrics as one on all model.Lanes lanes.
func TestSFTLaneCapSameBytes(t *testing.T) {
	d := data1t(t, 64)
	cfg := testConfig(t, d, 12)
	if n := Lanes(&cfg, d.MaxLen()); n != model.Lanes {
		t.Fatalf("tiny model: %d lanes, want %d", n, model.Lanes)
	}
	var dirs []string
	for _, lanes := range []int{model.Lanes, 2, 1} {
		if lanes < model.Lanes {
			t.Setenv(MemoryEnv, fmt.Sprintf("%.0f", memoryNeed(&cfg, d.MaxLen(), lanes).Total()+1))
		}
		if n := Lanes(&cfg, d.MaxLen()); n != lanes {
			t.Fatalf("%s=%s: %d lanes, want %d", MemoryEnv, os.Getenv(MemoryEnv), n, lanes)
		}
		if err := CheckMemory(&cfg, d.MaxLen()); err != nil {
			t.Fatalf("%d lanes fit, but: %v", lanes, err)
		}
		dir := t.TempDir()
		if err := Run(context.Background(), cfg, d, Options{Dir: dir, Quiet: true}); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	for _, dir := range dirs[1:] {
		for _, f := range []string{runfmt.CheckpointFile, runfmt.ModelFile} {
			if !bytes.Equal(readFile(t, filepath.Join(dirs[0], f)), readFile(t, filepath.Join(dir, f))) {
				t.Errorf("%s differs with fewer lanes", f)
			}
		}
		sameRows(t, readSteps(t, dirs[0]), readSteps(t, dir))
	}
	// One byte less than one lane needs: refused.
	t.Setenv(MemoryEnv, fmt.Sprintf("%.0f", memoryNeed(&cfg, d.MaxLen(), 1).Total()-1))
	if err := CheckMemory(&cfg, d.MaxLen()); err == nil || !strings.Contains(err.Error(), "1 lane ") {
		t.Errorf("below one lane: %v", err)
	}
}

// TestSFTLearnsSentiment1t: on the 1t task the response is the label alone,
// which the prompt's polarity words determine. A tiny model trained for 300
// steps (about 5 epochs of 1024 examples) must lower the held-out loss and put
// on average more than 0.9 of its probability on the correct label at the
// label position (1/64 untrained; 1/2 for a model that only learned that the
// answer is one of the two labels). The run reaches about 0.98.
func TestSFTLearnsSentiment1t(t *testing.T) {
	g := prefdata.DefaultGenConfig()
	g.ApplyPreset("1t")
	g.Vocab, g.NSFT, g.NTrain, g.NTest = 64, 1024, 16, 128
	d, err := prefdata.Generate(g)
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Steps, c.Epochs, c.LR, c.MinLR, c.Warmup, c.EvalEvery, c.Batch = 300, 0, 1e-2, 0, 10, 100, 16
	if err := Prepare(&c, d); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Run(context.Background(), c, d, Options{Dir: dir, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	var evals []StepRow
	for _, r := range readSteps(t, dir) {
		if r.Kind == "eval" {
			evals = append(evals, r)
		}
	}
	// The stream describes itself (formats.md metadata).
	sr, err := runfmt.NewStepReader(bytes.NewReader(readFile(t, filepath.Join(dir, runfmt.StepsFile))), runfmt.StepsFile)
	if err != nil {
		t.Fatal(err)
	}
	meta := sr.Meta()
	sr.Release()
	if meta.Format != runfmt.FormatSteps || meta.Mode != ModeSFT || meta.RunID != c.RunID() || meta.Config != c.JSON() ||
		len(meta.Groups) != len(model.Tensors(c.Model)) || !slices.Equal(meta.Vocab, d.Vocab.Tokens) || meta.Loss != "" {
		t.Fatalf("steps metadata %+v", meta)
	}
	if len(evals) != 4 || evals[0].Step != 0 || evals[3].Step != 300 {
		t.Fatalf("eval rows at %v", evals)
	}
	if !(evals[3].Loss < evals[0].Loss) {
		t.Fatalf("held-out loss did not go down: %v → %v", evals[0].Loss, evals[3].Loss)
	}
	// Probability of the correct label, recomputed from the saved weights.
	ck, err := ReadCheckpoint(filepath.Join(dir, runfmt.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	m := model.New[float32](ck.Model)
	copy(m.Params, ck.Params)
	defer m.Close()
	test := d.Select(prefdata.SplitTest)
	var seqs []model.Seq
	for i := range test {
		seqs = append(seqs, sftSeq(&test[i]))
	}
	var p float64
	for _, lp := range m.LogProbs(seqs) {
		p += math.Exp(float64(lp[0]))
	}
	p /= float64(len(seqs))
	t.Logf("held-out loss %.4f → %.4f, token acc %.3f, pref acc %.3f, mean p(label) %.4f",
		evals[0].Loss, evals[3].Loss, evals[3].TokenAcc, evals[3].RewardsAccuracies, p)
	if p <= 0.9 {
		t.Fatalf("mean probability of the correct label %.4f, want > 0.9", p)
	}
	if evals[3].RewardsAccuracies <= 0.9 {
		t.Fatalf("eval pref accuracy %.3f, want > 0.9", evals[3].RewardsAccuracies)
	}
}
