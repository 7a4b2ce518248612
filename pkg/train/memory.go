package train

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"entangle/pkg/model"
)

// MemoryEnv names the environment variable that overrides the memory a run
// may use (bytes, or a number with a K, M, G or T suffix, powers of 1024).
const MemoryEnv = "ENTANGLE_MEMORY"

// Memory is an estimate of the bytes a run holds at its peak, by part.
type Memory struct {
	Params, Grads, Optim, Lanes, Pref float64
	LaneCount                         int
}

// Total returns the sum of the parts.
func (m Memory) Total() float64 { return m.Params + m.Grads + m.Optim + m.Lanes + m.Pref }

// MemoryNeed estimates the peak memory of a run of cfg on sequences of at
// most maxLen tokens (the dataset's longest; the context T when unknown),
// with P parameters and W = model.WorkspaceBytes (one sequence's
// activations and scratch), all float32:
//
//	parameters  P                 (and the reference model's P in -mode pref)
//	gradients   P
//	optimizer   2P AdamW, P SGD with momentum, 0 plain SGD
//	lanes       model.Lanes × (P + W): each lane's gradient and workspace
//	pref        4P (snapshot, update, summed g_w, g_l) + 2P per probe pair
//
// Under -lora-r (loraMemory) the optimizer's moments are the A adapter
// parameters', there is no reference model unless -ref names one, and the
// adapters, their gradient and the copy of the adapted rows come on top.
//
// It is computed in float64, so an absurd config gives a huge figure, never
// an overflow. The dataset, the Arrow writers and the Go runtime come on top.
func MemoryNeed(cfg *Config, maxLen int) Memory {
	c := cfg.Model
	P := 4 * numParams(c)
	m := Memory{Params: P, Grads: P, LaneCount: model.Lanes}
	switch {
	case cfg.Optim == "sgd" && cfg.Momentum == 0:
	case cfg.Optim == "sgd":
		m.Optim = P
	default:
		m.Optim = 2 * P
	}
	m.Lanes = float64(model.Lanes) * (P + model.WorkspaceBytes(c, min(maxLen, c.T), 4))
	if cfg.Mode == ModePref {
		m.Params += P
		m.Pref = 4 * P
		if cfg.Pref != nil {
			m.Pref += 2 * float64(cfg.Pref.Probe) * P
		}
	}
	if cfg.LoRA != nil {
		loraMemory(cfg, &m)
	}
	return m
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

// CheckMemory refuses a run whose estimated peak (MemoryNeed) exceeds the
// memory available (MemoryAvailable), with both figures on one line.
func CheckMemory(cfg *Config, maxLen int) error {
	avail, source, ok, err := MemoryAvailable()
	if err != nil {
		return err
	}
	m := MemoryNeed(cfg, maxLen)
	if !ok || m.Total() <= avail {
		return nil
	}
	c := cfg.Model
	parts := fmt.Sprintf("parameters %s, gradients %s, optimizer %s, %d lanes %s", human(m.Params), human(m.Grads),
		human(m.Optim), m.LaneCount, human(m.Lanes))
	if m.Pref > 0 {
		parts += ", preference state " + human(m.Pref)
	}
	return fmt.Errorf("the model (vocab_size %d, context %d, width %d, layers %d, heads %d) needs about %s (%s) but %s is available (%s; set %s=SIZE to override)",
		c.V, c.T, c.C, c.L, c.H, human(m.Total()), parts, human(avail), source, MemoryEnv)
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
