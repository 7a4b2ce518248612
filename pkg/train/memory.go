package train

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"entangle/pkg/model"
	"entangle/pkg/pref"
)

// MemoryEnv names the environment variable that overrides the memory a run
// may use (bytes, or a number with a K, M, G or T suffix, powers of 1024).
const MemoryEnv = "ENTANGLE_MEMORY"

// Memory is an estimate of the bytes a run holds at its peak, by part.
type Memory struct {
	Params, Grads, Optim, Lanes, Pref float64
	Dumps                             float64 // -mode analyze: the gradient vectors kept for grads.arrows
	LaneCount                         int
}

// Total returns the sum of the parts.
func (m Memory) Total() float64 { return m.Params + m.Grads + m.Optim + m.Lanes + m.Pref + m.Dumps }

// MemoryNeed estimates the peak memory of a run of cfg on sequences of at
// most maxLen tokens (the dataset's longest; the context T when unknown),
// with P parameters and W = model.WorkspaceBytes (one sequence's
// activations and scratch), all float32:
//
//	parameters  P                 (and the reference model's P in -mode pref)
//	gradients   P
//	optimizer   2P AdamW, P SGD with momentum, 0 plain SGD
//	lanes       -mode sft: n × (G + W), each lane's gradient and workspace,
//	            n = lanesWithin(G + W) (at most pref.SeqLaneBudget);
//	            -mode pref: n × (2G + W), each lane a pair's g_w and g_l and
//	            a workspace, n = pref.GradLanes (the lanes the step uses:
//	            at most pref.PairLaneBudget, GOMAXPROCS and -batch)
//	pref        4P (snapshot, update, summed g_w, g_l), + 2P per probe pair
//	            with -attrib (4P with -attrib-update), the learned gate or
//	            LoRA (without them the probes keep no gradient: pref.Step)
//
// G is P, or under -lora-grad adapters the A adapter parameters' bytes (the
// lanes' gradients are the adapters'). Under -lora-r (loraMemory) the
// optimizer's moments are the adapters', there is no reference model unless
// -ref names one, and the adapters, their gradient and the copy of the
// adapted rows come on top.
//
// It is computed in float64, so an absurd config gives a huge figure, never
// an overflow. The dataset, the Arrow writers and the Go runtime come on top.
// A run uses fewer lanes when this estimate exceeds the memory available
// (Lanes), and CheckMemory refuses it only when one lane does not fit.
func MemoryNeed(cfg *Config, maxLen int) Memory {
	return memoryNeed(cfg, maxLen, 0)
}

// memoryNeed is MemoryNeed with n SFT lanes (0: lanesWithin's).
func memoryNeed(cfg *Config, maxLen, n int) Memory {
	c := cfg.Model
	P := 4 * numParams(c)
	W := model.WorkspaceBytes(c, min(maxLen, c.T), 4)
	G := P
	if cfg.LoRA.AdaptersOnly() {
		G, _ = loraBytes(cfg)
	}
	m := Memory{Params: P, Grads: P}
	switch {
	case cfg.Optim == "sgd" && cfg.Momentum == 0:
	case cfg.Optim == "sgd":
		m.Optim = P
	default:
		m.Optim = 2 * P
	}
	if cfg.Mode != ModePref {
		m.LaneCount = lanesWithin(G + W)
		if n > 0 {
			m.LaneCount = n
		}
		m.Lanes = float64(m.LaneCount) * (G + W)
	} else {
		m.LaneCount = pref.GradLanes(int(min(G/4, 1<<50)), 4, cfg.Batch)
		m.Lanes = float64(m.LaneCount) * (2*G + W)
	}
	if cfg.Mode == ModePref {
		m.Params += P
		m.Pref = 4 * P
		if pc := cfg.Pref; pc != nil && (pc.Attrib || pc.Sparse == "learned" || cfg.LoRA != nil) {
			m.Pref += 2 * float64(pc.Probe) * P // the probes' g_w, g_l, kept through the step
			if pc.AttribUpdate {
				m.Pref += 2 * float64(pc.Probe) * P // and their preconditioned copies
			}
		}
	}
	if cfg.LoRA != nil {
		loraMemory(cfg, &m)
	}
	return m
}

// lanesWithin returns how many SFT lanes of b bytes fit in
// pref.SeqLaneBudget (the one place of the lane budgets): at least 1, at
// most model.Lanes. The results do not depend on the number of lanes
// (lanes.run).
func lanesWithin(b float64) int {
	return max(1, min(model.Lanes, int(pref.SeqLaneBudget/max(b, 1))))
}

// Lanes returns the SFT lanes a run of cfg uses on sequences of at most
// maxLen tokens: MemoryNeed's count, fewer while the estimate exceeds the
// memory available (MemoryAvailable; ENTANGLE_MEMORY forces it), at least
// 1. In -mode pref they only evaluate (workspaces, no gradient): model.Lanes.
func Lanes(cfg *Config, maxLen int) int {
	if cfg.Mode == ModePref {
		return model.Lanes
	}
	m := memoryNeed(cfg, maxLen, 0)
	avail, _, ok, err := MemoryAvailable()
	if err != nil || !ok {
		return m.LaneCount
	}
	n := m.LaneCount
	for n > 1 && m.Total() > avail {
		n--
		m = memoryNeed(cfg, maxLen, n)
	}
	return n
}

// numParams is model.NumParams in float64, without building the table.
func numParams(c model.Config) float64 { return model.ParamCount(c) }

// MemoryAvailable returns the bytes a run may use and where the figure comes
// from: $ENTANGLE_MEMORY when set, else the smaller of MemTotal in
// /proc/meminfo and the cgroup's memory limit. ok is false when none is
// known (then nothing is refused).
func MemoryAvailable() (bytes float64, source string, ok bool, err error) {
	if s := os.Getenv(MemoryEnv); s != "" {
		b, err := ParseBytes(s)
		if err != nil {
			return 0, "", false, fmt.Errorf("$%s: %v", MemoryEnv, err)
		}
		return b, "$" + MemoryEnv, true, nil
	}
	if b, ok := memTotal(); ok {
		bytes, source = b, "MemTotal in /proc/meminfo"
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(string(raw)), 64)
		if err == nil && v > 0 && (source == "" || v < bytes) {
			bytes, source = v, p
		}
	}
	return bytes, source, source != "", nil
}

func memTotal() (float64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			fs := strings.Fields(rest)
			if len(fs) == 2 && fs[1] == "kB" {
				if v, err := strconv.ParseFloat(fs[0], 64); err == nil {
					return v * 1024, true
				}
			}
		}
	}
	return 0, false
}

// ParseBytes parses a byte count: digits with an optional K, M, G or T
// suffix (powers of 1024, an optional trailing B or iB).
func ParseBytes(s string) (float64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	mult := 1.0
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGT", t[n-1]); i >= 0 {
			mult = float64(uint64(1) << (10 * (i + 1)))
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0) || v*mult > 1<<62 {
		return 0, fmt.Errorf("%q is not a byte count (like 8G, 512M or 1073741824)", s)
	}
	return v * mult, nil
}

// CheckMemory refuses a run whose estimated peak (MemoryNeed, with the
// lanes of Lanes) exceeds the memory available (MemoryAvailable), with both
// figures on one line.
func CheckMemory(cfg *Config, maxLen int) error {
	avail, source, ok, err := MemoryAvailable()
	if err != nil {
		return err
	}
	m := memoryNeed(cfg, maxLen, Lanes(cfg, maxLen))
	if !ok || m.Total() <= avail {
		return nil
	}
	return tooLarge(m, cfg.Model, avail, source)
}

// tooLarge is the refusal of an estimate m above the avail bytes of source.
func tooLarge(m Memory, c model.Config, avail float64, source string) error {
	lanes := "lanes"
	if m.LaneCount == 1 {
		lanes = "lane"
	}
	parts := fmt.Sprintf("parameters %s, gradients %s, optimizer %s, %d %s %s", human(m.Params), human(m.Grads),
		human(m.Optim), m.LaneCount, lanes, human(m.Lanes))
	if m.Pref > 0 {
		parts += ", preference state " + human(m.Pref)
	}
	if m.Dumps > 0 {
		parts += ", gradient dumps " + human(m.Dumps)
	}
	return fmt.Errorf("the model (vocab_size %d, context %d, width %d, layers %d, heads %d) needs about %s (%s) but %s is available (%s; set %s=SIZE to override)",
		c.V, c.T, c.C, c.L, c.H, human(m.Total()), parts, human(avail), source, MemoryEnv)
}

// AnalyzeMemoryNeed estimates the peak memory of an analysis (-mode
// analyze) of n pairs whose sequences have at most maxLen tokens and whose
// responses at most maxResp, float32:
//
//	parameters  P          one model at a time (the reference's weights are
//	                       freed before the checkpoint's are read)
//	gradients   2P         the current pair's g_w and g_l (one lane; the
//	                       Stepper allocates batch sums only for a step)
//	lanes       W          its workspace
//	dumps       2 × (2n + 2·t·maxResp) × D with -grads: every vector kept
//	                       until grads.arrows is written, and its encoding;
//	                       D = P (full) or K (sketched), t = min(-token-grads, n)
func AnalyzeMemoryNeed(cfg *AnalyzeConfig, n, maxLen, maxResp int) Memory {
	c := cfg.Model
	P := 4 * numParams(c)
	m := Memory{Params: P, Grads: 2 * P, Lanes: model.WorkspaceBytes(c, min(maxLen, c.T), 4), LaneCount: 1}
	if g := cfg.Pref.Grads; g != "" {
		D := P
		if _, k, ok := strings.Cut(g, ":"); ok {
			K, _ := strconv.Atoi(k)
			D = 4 * float64(K)
		}
		vecs := 2*float64(n) + 2*float64(min(cfg.Pref.TokenGrads, n))*float64(maxResp)
		m.Dumps = 2 * vecs * D
	}
	return m
}

// CheckAnalyzeMemory refuses an analysis whose estimate (AnalyzeMemoryNeed)
// exceeds the memory available, as CheckMemory.
func CheckAnalyzeMemory(cfg *AnalyzeConfig, n, maxLen, maxResp int) error {
	avail, source, ok, err := MemoryAvailable()
	if err != nil {
		return err
	}
	m := AnalyzeMemoryNeed(cfg, n, maxLen, maxResp)
	if !ok || m.Total() <= avail {
		return nil
	}
	return tooLarge(m, cfg.Model, avail, source)
}

// human formats a byte count with a binary unit.
func human(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if b >= 1e4 {
		return fmt.Sprintf("%.3g %s", b, units[i])
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}
