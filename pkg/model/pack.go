package model

import (
	"unsafe"

	"entangle/internal/gemm"
)

// weightPack holds one weight matrix w (OC,C) packed for both of its
// products: nt for the forward's inp·wᵀ, nn for the input gradient's dout·w.
type weightPack struct {
	nt, nn gemm.Packed
}

// PackWeights packs every weight matrix of m (the four Linear layers of each
// block and the LM head) for the float32 GEMM kernels, once, instead of once
// per product: until UnpackWeights, Forward and Backward of every workspace
// of m multiply by the packs. The packs copy the values of m.Params at this
// call, so the parameters must not change until UnpackWeights (a training
// step packs after its optimizer update and unpacks at its end). Results are
// bit-identical with and without packing. It is a no-op for float64 models,
// and must not run concurrently with a Forward or Backward on m.
func (m *Model[F]) PackWeights() {
	if unsafe.Sizeof(F(0)) != 4 || len(m.Params) == 0 {
		return
	}
	if len(m.packList) == 0 || m.packBase != &m.Params[0] {
		m.buildPackList()
	}
	for _, it := range m.packList {
		gemm.Pack(&it.pk.nt, it.w, it.ic, true, it.ic, it.oc)  // op(b) = wᵀ, (IC,OC)
		gemm.Pack(&it.pk.nn, it.w, it.ic, false, it.oc, it.ic) // op(b) = w, (OC,IC)
	}
	m.packOn = true
}

// packItem is one weight matrix (OC,IC) of PackWeights.
type packItem struct {
	w      []float32
	oc, ic int
	pk     *weightPack
}

// buildPackList lists the weight matrices of m.Params and their packs.
func (m *Model[F]) buildPackList() {
	cfg := m.Cfg
	C := cfg.C
	v := viewsOf(m.Params, cfg)
	m.packs = make(map[*float32]*weightPack)
	m.packList = m.packList[:0]
	add := func(w []F, OC, IC int) {
		w32 := as32(w)
		pk := m.packs[&w32[0]]
		if pk == nil {
			pk = new(weightPack)
			m.packs[&w32[0]] = pk
			m.packList = append(m.packList, packItem{w: w32, oc: OC, ic: IC, pk: pk})
		}
	}
	for _, l := range v.layers {
		add(l.qkvw, cfg.qkvWidth(), C)
		add(l.attprojw, C, C)
		add(l.fcw, cfg.fcWidth(), C)
		add(l.fcprojw, C, cfg.MLPWidth())
	}
	add(v.head, cfg.V, C)
	m.packBase = &m.Params[0]
}

// UnpackWeights ends the use of the packs of PackWeights (their memory is
// kept for the next PackWeights).
func (m *Model[F]) UnpackWeights() { m.packOn = false }

// packOf returns the pack of weight matrix w, or nil when the weights are
// not packed.
func (m *Model[F]) packOf(w []F) *weightPack {
	if !m.packOn || len(w) == 0 {
		return nil
	}
	return m.packs[&as32(w)[0]]
}

// matmulForwardPacked is matmulForward's float32 path with w packed:
// out = inp·wᵀ + b for T rows.
func matmulForwardPacked[F Float](out, inp, b []F, pk *weightPack, T, C, OC int) {
	o32, b32 := as32(out), as32(b)
	if b32 == nil {
		// no bias (the LM head): set, without a pass clearing out first
		gemm.MulPackedSet(o32, OC, as32(inp), C, &pk.nt, T)
		return
	}
	for t := 0; t < T; t++ {
		copy(o32[t*OC:(t+1)*OC], b32)
	}
	gemm.MulPacked(o32, OC, as32(inp), C, &pk.nt, T)
}
