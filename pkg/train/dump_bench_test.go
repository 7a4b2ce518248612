package train

import (
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/runfmt"
)

// BenchmarkGradDump measures the write throughput of train's gradient dumps
// (grads.arrows, -grads full, no compression: the writer train opens) at the
// M preset, untied: one dump step of a -dump-train run with 16 pairs is 32
// sequence gradients plus the update row, each NumParams float32 values,
// written to a file (sub-benchmark file: includes the kernel's page cache and
// the disk's writeback, which dominate on a virtual disk) or discarded
// (sub-benchmark memory: the writer's own cost). b.SetBytes counts the
// gradient values (4 bytes each), so MB/s is the uncompressed throughput of
// issue #8's target (≥ 1 GB/s).
func BenchmarkGradDump(b *testing.B) {
	b.Run("file", func(b *testing.B) {
		f, err := os.Create(b.TempDir() + "/" + runfmt.GradsFile)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		benchGradDump(b, f)
	})
	b.Run("memory", func(b *testing.B) { benchGradDump(b, io.Discard) })
}

func benchGradDump(b *testing.B, dst io.Writer) {
	cfg, _ := model.Preset("M")
	cfg.Tied = false
	dim := model.NumParams(cfg)
	var gs []runfmt.Group
	for _, t := range model.Tensors(cfg) {
		gs = append(gs, runfmt.Group{Name: t.Name, Offset: t.Offset, Size: t.Size})
	}
	const pairs = 16
	rng := rand.New(rand.NewPCG(1, 0))
	vec := make([]float32, dim)
	for i := range vec {
		vec[i] = float32(rng.NormFloat64())
	}
	var rows []runfmt.GradRow
	for i := range pairs {
		for _, side := range []string{"chosen", "rejected"} {
			rows = append(rows, runfmt.GradRow{Kind: "train", Pair: int64(i), Side: side, Token: -1, TokenID: -1, Contrastive: -1, Grad: vec})
		}
	}
	rows = append(rows, runfmt.GradRow{Kind: "update", Pair: -1, Side: "update", Token: -1, TokenID: -1, Contrastive: -1, Grad: vec})
	w, err := runfmt.NewGradWriter(dst, runfmt.Meta{Mode: "pref", Loss: "dpo", Sketch: "full", Dim: dim, C: cfg.C, Groups: gs})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(rows) * dim * 4))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range rows {
			rows[k].Step = int64(i + 1)
		}
		if err := w.Write(rows); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}
