package train

import (
	"runtime"
	"strings"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/pref"
)

func TestNumParamsFormula(t *testing.T) {
	for _, c := range []model.Config{
		{V: 64, T: 32, C: 16, L: 2, H: 2, Tied: true},
		{V: 50257, T: 1024, C: 768, L: 12, H: 12, Tied: true},
		{V: 7, T: 3, C: 6, L: 1, H: 3},
	} {
		if got, want := numParams(c), float64(model.NumParams(c)); got != want {
			t.Errorf("%+v: numParams %v, model.NumParams %v", c, got, want)
		}
	}
	if got := numParams(model.Config{V: 50257, T: 1024, C: 768, L: 12, H: 12, Tied: true}); got != 124439808 {
		t.Errorf("GPT-2 small: %v parameters, want 124439808", got)
	}
}

func TestMemoryNeed(t *testing.T) {
	c := DefaultConfig()
	c.Model = model.Config{V: 64, T: 32, C: 16, L: 2, H: 2, Tied: true} // 8128 parameters
	P := 4 * 8128.0
	W := model.WorkspaceBytes(c.Model, 32, 4)
	m := MemoryNeed(&c, 32)
	if m.Params != P || m.Grads != P || m.Optim != 2*P || m.Lanes != float64(model.Lanes)*(P+W) || m.Pref != 0 {
		t.Errorf("sft AdamW: %+v", m)
	}
	c.Optim, c.Momentum = "sgd", 0
	if m := MemoryNeed(&c, 32); m.Optim != 0 {
		t.Errorf("plain SGD: optimizer %v", m.Optim)
	}
	c.Mode, c.Pref = ModePref, &PrefConfig{Probe: 3}
	if m := MemoryNeed(&c, 32); m.Params != 2*P || m.Pref != 4*P {
		t.Errorf("pref with 3 probes (none kept): %+v", m)
	}
	c.Pref.Attrib = true
	if m := MemoryNeed(&c, 32); m.Params != 2*P || m.Pref != 4*P+6*P {
		t.Errorf("pref with 3 probes and -attrib: %+v", m)
	}
	c.Pref.AttribUpdate = true
	if m := MemoryNeed(&c, 32); m.Pref != 4*P+12*P {
		t.Errorf("pref with 3 probes and -attrib-update: %+v", m)
	}
	c.Pref.Attrib, c.Pref.AttribUpdate = false, false
	// Shorter data, smaller workspaces.
	c2 := c
	c2.Model.T = 128
	if a, b := MemoryNeed(&c2, 128).Lanes, MemoryNeed(&c2, 5).Lanes; !(b < a) {
		t.Errorf("lanes at 5 tokens %v not below 32 tokens %v", b, a)
	}
	t.Setenv(MemoryEnv, "100K")
	err := CheckMemory(&c, 32)
	if err == nil || !strings.Contains(err.Error(), "100.0 KiB is available ($ENTANGLE_MEMORY") || !strings.Contains(err.Error(), "needs about") {
		t.Errorf("CheckMemory with 100K: %v", err)
	}
	t.Setenv(MemoryEnv, "lots")
	if err := CheckMemory(&c, 32); err == nil || !strings.Contains(err.Error(), "not a byte count") {
		t.Errorf("bad %s: %v", MemoryEnv, err)
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want float64
	}{
		{"1073741824", 1 << 30}, {"8G", 8 << 30}, {"8GiB", 8 << 30}, {"8gb", 8 << 30}, {"512M", 512 << 20}, {"1.5T", 1.5 * (1 << 40)}, {"100K", 102400},
	} {
		if got, err := ParseBytes(tc.s); err != nil || got != tc.want {
			t.Errorf("ParseBytes(%q) = %v, %v; want %v", tc.s, got, err, tc.want)
		}
	}
	for _, s := range []string{"", "G", "-1G", "0", "1e30T", "x", "NaN"} {
		if _, err := ParseBytes(s); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", s)
		}
	}
}

// TestMemoryNeedLoRA: under -lora-grad adapters every P-sized gradient
// buffer (the step's, each lane's, the pairs' and probes') is A-sized;
// -lora-grad all keeps them and adds the adapters' own.
func TestMemoryNeedLoRA(t *testing.T) {
	c := DefaultConfig()
	c.Model = model.Config{V: 64, T: 32, C: 16, L: 2, H: 2, Tied: true} // 8128 parameters
	c.Init = "x"
	c.LoRA = &LoRAConfig{R: 2, Alpha: 4, Modules: []string{"c_attn"}}
	P := 4 * 8128.0
	A := 4 * 2 * 2 * (16 + 48.0) // 2 layers, r 2, c_attn (16 → 48)
	W := model.WorkspaceBytes(c.Model, 32, 4)
	L := float64(model.Lanes)
	m := MemoryNeed(&c, 32)
	if m.Grads != P+A || m.Lanes != L*(P+W) {
		t.Errorf("sft -lora-grad all: %+v", m)
	}
	c.LoRA.Grad = LoRAGradAdapters
	m = MemoryNeed(&c, 32)
	if m.Grads != A || m.Lanes != L*(A+W) || m.Optim != 2*A {
		t.Errorf("sft -lora-grad adapters: %+v (A %v)", m, A)
	}
	c.Mode, c.Pref = ModePref, &PrefConfig{Probe: 3}
	m = MemoryNeed(&c, 32)
	n := float64(pref.GradLanes(int(A/4), 4, c.Batch))
	if m.Pref != (4+6)*A || m.Grads != A || m.Lanes != n*(2*A+W) {
		t.Errorf("pref -lora-grad adapters with 3 probes: %+v (A %v)", m, A)
	}
}

// TestLaneCounts: the estimate counts the lanes the run will use. A
// preference run of GPT-2 small holds pref.GradLanes's: 3 lanes of g_w, g_l
// (950 MiB each) with 4 procs and a batch of 8, 2 with 2 procs, 1 for a
// batch of 1 (it counted model.Lanes, 4, whatever the step did); an SFT run
// under -lora-grad adapters sizes its lanes by the adapters: at 256 tokens
// 2 lanes of P + W but 4 of A + W.
func TestLaneCounts(t *testing.T) {
	t.Setenv(MemoryEnv, "1T")
	c := DefaultConfig()
	c.Model = model.Config{V: 50257, T: 1024, C: 768, L: 12, H: 12, Tied: true}
	P := 4 * numParams(c.Model)
	W := model.WorkspaceBytes(c.Model, 128, 4)
	c.Mode, c.Pref, c.Batch = ModePref, &PrefConfig{}, 8
	for _, tc := range []struct{ procs, batch, want int }{{4, 8, 3}, {2, 8, 2}, {4, 1, 1}} {
		prev := runtime.GOMAXPROCS(tc.procs)
		c.Batch = tc.batch
		m := MemoryNeed(&c, 128)
		runtime.GOMAXPROCS(prev)
		if m.LaneCount != tc.want || m.Lanes != float64(tc.want)*(2*P+W) {
			t.Errorf("pref, GOMAXPROCS %d, batch %d: %d lanes of %.0f MiB, want %d of %.0f", tc.procs, tc.batch, m.LaneCount,
				m.Lanes/float64(max(m.LaneCount, 1))/(1<<20), tc.want, (2*P+W)/(1<<20))
		}
	}
	c = DefaultConfig()
	c.Model = model.Config{V: 50257, T: 1024, C: 768, L: 12, H: 12, Tied: true}
	c.Init = "x"
	c.LoRA = &LoRAConfig{R: 8, Alpha: 16, Modules: []string{"c_attn"}}
	if n := Lanes(&c, 256); n != 2 {
		t.Errorf("sft -lora-grad all at 256 tokens: %d lanes, want 2", n)
	}
	c.LoRA.Grad = LoRAGradAdapters
	A, _ := loraBytes(&c)
	W = model.WorkspaceBytes(c.Model, 256, 4)
	if n, m := Lanes(&c, 256), MemoryNeed(&c, 256); n != 4 || m.LaneCount != 4 || m.Lanes != 4*(A+W) {
		t.Errorf("sft -lora-grad adapters at 256 tokens: %d lanes, estimate %+v, want 4 of %.0f MiB", n, m, (A+W)/(1<<20))
	}
}

// TestLanesGPT2Small: at GPT-2 small's shape an SFT run's lanes (gradient
// and workspace, about 475 + 150 MiB at 128 tokens) fit pref.SeqLaneBudget three times;
// at 1024 tokens (about 2 GiB a lane) once; a preference run keeps
// model.Lanes evaluation lanes.
func TestLanesGPT2Small(t *testing.T) {
	t.Setenv(MemoryEnv, "1T")
	c := DefaultConfig()
	c.Model = model.Config{V: 50257, T: 1024, C: 768, L: 12, H: 12, Tied: true}
	for _, tc := range []struct{ maxLen, want int }{{128, 3}, {1024, 1}} {
		if n := Lanes(&c, tc.maxLen); n != tc.want {
			t.Errorf("%d tokens: %d lanes, want %d", tc.maxLen, n, tc.want)
		}
		if m := MemoryNeed(&c, tc.maxLen); m.LaneCount != tc.want {
			t.Errorf("%d tokens: MemoryNeed counts %d lanes, want %d", tc.maxLen, m.LaneCount, tc.want)
		}
	}
	t.Setenv(MemoryEnv, "3.5G") // parameters, gradient and AdamW take 1,900 MiB: two lanes of about 600 MiB fit, not three
	if n := Lanes(&c, 128); n != 2 {
		t.Errorf("with 3.5G: %d lanes, want 2", n)
	}
	c.Mode, c.Pref = ModePref, &PrefConfig{}
	if n := Lanes(&c, 128); n != model.Lanes {
		t.Errorf("pref: %d lanes, want %d", n, model.Lanes)
	}
}

// TestAnalyzeMemoryNeed: the analysis holds one model, one pair's g_w and
// g_l and one workspace (no batch sums: the Stepper allocates them for a
// step only), plus, with -grads, every dumped vector twice (the rows and
// the stream's encoding); GPT-2 small without dumps needs about 1.5 GiB
// whatever the number of pairs (measured: a peak RSS of 1,506 MiB analysing
// 4 pairs of 1t, 2,450 MiB while the Stepper allocated the sums).
func TestAnalyzeMemoryNeed(t *testing.T) {
	c := AnalyzeConfig{Model: model.Config{V: 64, T: 32, C: 16, L: 2, H: 2, Tied: true}} // 8128 parameters
	P := 4 * 8128.0
	W := model.WorkspaceBytes(c.Model, 20, 4)
	m := AnalyzeMemoryNeed(&c, 10, 20, 6)
	if m.Params != P || m.Grads != 2*P || m.Lanes != W || m.Optim != 0 || m.Pref != 0 || m.Dumps != 0 || m.LaneCount != 1 {
		t.Errorf("no dumps: %+v", m)
	}
	c.Pref.Grads = "full"
	if m := AnalyzeMemoryNeed(&c, 10, 20, 6); m.Dumps != 2*20*P {
		t.Errorf("full: dumps %v, want %v", m.Dumps, 2*20*P)
	}
	c.Pref.Grads, c.Pref.TokenGrads = "countsketch:64", 3 // 20 sequence vectors + 2·3·6 token vectors of 64 floats
	if m := AnalyzeMemoryNeed(&c, 10, 20, 6); m.Dumps != 2*(20+36)*4*64 {
		t.Errorf("countsketch:64 with 3 token pairs: dumps %v, want %v", m.Dumps, 2*(20+36)*4*64)
	}
	t.Setenv(MemoryEnv, "512K")
	if err := CheckAnalyzeMemory(&c, 10, 20, 6); err != nil {
		t.Errorf("512K: %v", err)
	}
	c.Pref.Grads = "full"
	if err := CheckAnalyzeMemory(&c, 10, 20, 6); err == nil || !strings.Contains(err.Error(), "gradient dumps 3.5 MiB") { // (20 + 36) vectors of 8128 floats, twice
		t.Errorf("full dumps in 512K: %v", err)
	}
	g := AnalyzeConfig{Model: model.Config{V: 50257, T: 1024, C: 768, L: 12, H: 12, Tied: true}}
	if a, b := AnalyzeMemoryNeed(&g, 8, 128, 96).Total(), AnalyzeMemoryNeed(&g, 512, 128, 96).Total(); a != b || a/(1<<30) < 1.45 || a/(1<<30) > 1.6 {
		t.Errorf("GPT-2 small: %.2f GiB for 8 pairs, %.2f for 512", a/(1<<30), b/(1<<30))
	}
}
