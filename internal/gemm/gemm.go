package gemm

//go:generate sh -c "cd _gen && go run . -out ../kernels_amd64.s -stubs ../kernels_amd64.go -pkg gemm"

import (
	"fmt"
	"sync"
)

// NT accumulates c += a·bᵀ:
//
//	c[i*ldc+j] += Σ_{p<k} a[i*lda+p]·b[j*ldb+p]     (0 ≤ i < m, 0 ≤ j < n)
//
// a is (m,k), b is (n,k) and c is (m,n), all row-major with leading dimensions
// lda ≥ k, ldb ≥ k, ldc ≥ n. This is a Linear layer's forward, out += inp·Wᵀ.
// Each c[i,j] accumulates its k products in increasing p with a fused
// multiply-add into one float32 accumulator (see the package doc), so the bits
// do not depend on the kernel or on how the caller splits the rows of c.
func NT(c []float32, ldc int, a []float32, lda int, b []float32, ldb int, m, n, k int) {
	check("NT", c, ldc, a, lda, false, b, ldb, true, m, n, k)
	current().run(c, ldc, a, lda, false, b, ldb, true, m, n, k)
}

// NN accumulates c += a·b:
//
//	c[i*ldc+j] += Σ_{p<k} a[i*lda+p]·b[p*ldb+j]
//
// a is (m,k), b is (k,n), c is (m,n), row-major, lda ≥ k, ldb ≥ n, ldc ≥ n.
// This is a Linear layer's input gradient, dinp += dout·W. Same summation
// order and determinism as NT.
func NN(c []float32, ldc int, a []float32, lda int, b []float32, ldb int, m, n, k int) {
	check("NN", c, ldc, a, lda, false, b, ldb, false, m, n, k)
	current().run(c, ldc, a, lda, false, b, ldb, false, m, n, k)
}

// TN accumulates c += aᵀ·b:
//
//	c[i*ldc+j] += Σ_{p<k} a[p*lda+i]·b[p*ldb+j]
//
// a is (k,m), b is (k,n), c is (m,n), row-major, lda ≥ m, ldb ≥ n, ldc ≥ n.
// This is a Linear layer's weight gradient, dW += doutᵀ·inp, with k the number
// of rows (tokens). Same summation order and determinism as NT.
func TN(c []float32, ldc int, a []float32, lda int, b []float32, ldb int, m, n, k int) {
	check("TN", c, ldc, a, lda, true, b, ldb, false, m, n, k)
	current().run(c, ldc, a, lda, true, b, ldb, false, m, n, k)
}

// NTSet sets c = a·bᵀ (NT without the old c; as TNSet). k = 0 sets c to 0.
func NTSet(c []float32, ldc int, a []float32, lda int, b []float32, ldb int, m, n, k int) {
	check("NTSet", c, ldc, a, lda, false, b, ldb, true, m, n, k)
	current().runSet(c, ldc, a, lda, false, b, ldb, true, nil, m, n, k, true)
}

// NNSet sets c = a·b (NN without the old c; as TNSet). k = 0 sets c to 0.
func NNSet(c []float32, ldc int, a []float32, lda int, b []float32, ldb int, m, n, k int) {
	check("NNSet", c, ldc, a, lda, false, b, ldb, false, m, n, k)
	current().runSet(c, ldc, a, lda, false, b, ldb, false, nil, m, n, k, true)
}

// TNSet sets c = aᵀ·b (TN without the old c): each c[i,j] accumulates its k
// products from +0, so the bits equal clearing c and calling TN, but c is not
// read (no separate pass over it: a weight gradient's buffer need not be
// zeroed first). k = 0 sets c to 0.
func TNSet(c []float32, ldc int, a []float32, lda int, b []float32, ldb int, m, n, k int) {
	check("TNSet", c, ldc, a, lda, true, b, ldb, false, m, n, k)
	current().runSet(c, ldc, a, lda, true, b, ldb, false, nil, m, n, k, true)
}

// check panics unless the operands hold the matrices the call describes: an
// operand stored as (r, s) needs a leading dimension ≥ s and (r-1)·ld+s elements.
func check(op string, c []float32, ldc int, a []float32, lda int, transA bool, b []float32, ldb int, transB bool, m, n, k int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: %s: negative dimension m=%d n=%d k=%d", op, m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	need := func(name string, x []float32, ld, r, s int) {
		if ld < s || ld < 1 {
			panic(fmt.Sprintf("gemm: %s: ld%s=%d < %d columns", op, name, ld, max(s, 1)))
		}
		if r > 0 && s > 0 && len(x) < (r-1)*ld+s {
			panic(fmt.Sprintf("gemm: %s: len(%s)=%d < %d for a (%d,%d) matrix with ld%s=%d", op, name, len(x), (r-1)*ld+s, r, s, name, ld))
		}
	}
	need("c", c, ldc, m, n)
	if m > 0 && n > 0 && k > 0 {
		need("a", a, lda, ar, ac)
		need("b", b, ldb, br, bc)
	}
}

// microKernel updates a register tile C[0:r, 0:nr] += A·B over k steps from a
// packed A micro-panel (mr floats per step) and B rows bs floats apart, one
// fused multiply-add per element and step in increasing step order.
// With zero ≠ 0 the accumulators start at +0 instead of C: C = A·B, C not
// read, with the bits of clearing C first.
type microKernel func(k int, a, b *float32, bs int, c *float32, ldc int, zero int)

// rowKernel is a microKernel reading A unpacked: row i of the tile at
// a + i*lda, step p at column p (the same loads, FMAs and order).
type rowKernel func(k int, a *float32, lda int, b *float32, bs int, c *float32, ldc int, zero int)

// kernelSet is one implementation of the three products: a family of SIMD
// micro-kernels with an mr×nr register tile, or (kern == nil) the pure-Go
// reference.
type kernelSet struct {
	name   string
	mr, nr int
	mc     int           // rows of A packed at once (a multiple of mr: mc/mr panels)
	kern   []microKernel // kern[r-1] updates r rows
	rowK   []rowKernel   // rowK[r-1]: the same with A row-major, unpacked (nil: always pack)

	// elementwise and PairBlock kernels; nil: the scalar reference
	exp      func(dst, src *float32, n int)
	gelu     func(out, inp *float32, n int)
	geluGrad func(dinp, inp, dout *float32, n int)
	pair     [3]pairKernel

	mu   sync.Mutex
	free []*workspace // workspaces not in use: one per concurrent caller, kept forever
}

// Cache blocking: a kc×nc block of B (1 MiB) is packed once and reused for
// every mc-row block of A. Within a block the micro-kernel walks c panel of
// rows by panel of rows, each from left to right: the panel's kc×mr values of
// A (12 KiB) stay in L1 while the kc×nr strips of B stream from L2, and each
// row of c is read and written in increasing addresses, which the hardware
// prefetcher follows. With the model's small k (a weight gradient's k is the
// sequence length) c's traffic is what limits: this order was 1-3 % faster
// than strips outer (a B strip kept in L1 over the panels) at the S and M
// shapes and 9-13 % at GPT-2 small's weight gradients (TN, k = 64).
const (
	blockK = 256
	blockN = 1024
)

// workspace holds the packed operands of one call.
type workspace struct {
	ap, bp, ct []float32
}

// run computes c += op(a)·op(b) with this implementation.
func (ks *kernelSet) run(c []float32, ldc int, a []float32, lda int, transA bool, b []float32, ldb int, transB bool, m, n, k int) {
	ks.runPacked(c, ldc, a, lda, transA, b, ldb, transB, nil, m, n, k)
}

// runPacked is run with op(b) already packed in pk.data (the blocks in run's
// order), or packed per block when pk is nil.
func (ks *kernelSet) runPacked(c []float32, ldc int, a []float32, lda int, transA bool, b []float32, ldb int, transB bool, pk *Packed, m, n, k int) {
	ks.runSet(c, ldc, a, lda, transA, b, ldb, transB, pk, m, n, k, false)
}

// runSet is runPacked, with set: c = op(a)·op(b), the micro-kernels of the
// first k block starting their accumulators at +0 instead of loading c (so
// that c is never read; fma(a, b, +0) rounds as on a c cleared to +0).
func (ks *kernelSet) runSet(c []float32, ldc int, a []float32, lda int, transA bool, b []float32, ldb int, transB bool, pk *Packed, m, n, k int, set bool) {
	ks.runCols(c, ldc, a, lda, transA, b, ldb, transB, pk, m, n, k, set, 0, n)
}

// runCols is runSet on columns j0..j1-1 of c and op(b) only (j0 a multiple
// of nr; the other columns of c are neither read nor written).
func (ks *kernelSet) runCols(c []float32, ldc int, a []float32, lda int, transA bool, b []float32, ldb int, transB bool, pk *Packed, m, n, k int, set bool, j0, j1 int) {
	if set && (ks.kern == nil || k == 0) {
		for i := 0; i < m; i++ {
			clear(c[i*ldc+j0 : i*ldc+j1])
		}
	}
	if m == 0 || j1 <= j0 || k == 0 {
		return
	}
	if ks.kern == nil {
		bo := j0 // op(b)[p, j0] is b[j0*ldb+p] (transB) or b[p*ldb+j0]
		if transB {
			bo = j0 * ldb
		}
		genericRun(c[j0:], ldc, a, lda, transA, b[bo:], ldb, transB, m, j1-j0, k)
		return
	}
	if j0%ks.nr != 0 || (j1 != n && j1%ks.nr != 0) {
		panic("gemm: runCols: a column bound inside a strip")
	}
	w := ks.get()
	mr, nr := ks.mr, ks.nr
	// a row-major op(b) (NN, TN) is read in place by full strips, its k rows
	// ldb apart (the kernel's bs), instead of being packed per call; a
	// strip past the last full one is packed (zero-padded to nr columns).
	// Rows more than 4 KiB apart are packed: in place, GPT-2 small's
	// fc_proj weight gradient (ldb 3072) ran 20 % slower, while every S and M
	// product with a row-major b and GPT-2's at ldb 768 ran 0-9 % faster
	// (best of 6 interleaved runs, GFLOP/s by thread CPU time, loaded machine)
	inPlaceB := pk == nil && !transB && bInPlace && ldb <= bInPlaceMaxLd
	pkOff := 0
	for jc := 0; jc < n; jc += blockN {
		ncb := min(blockN, n-jc)
		if jc+ncb <= j0 || jc >= j1 {
			// a block outside the columns: skip its packed data
			pkOff += (ncb + nr - 1) / nr * nr * k
			continue
		}
		for pc := 0; pc < k; pc += blockK {
			kcb := min(blockK, k-pc)
			bpBlock := w.bp
			switch {
			case pk != nil:
				sz := (ncb + nr - 1) / nr * nr * kcb
				bpBlock = pk.data[pkOff : pkOff+sz]
				pkOff += sz
			case inPlaceB:
				_ = b[(pc+kcb-1)*ldb+jc+ncb-1] // bounds of the block
				if full := ncb / nr * nr; full < ncb {
					packB(w.bp, b, ldb, false, pc, kcb, jc+full, ncb-full, nr)
				}
			default:
				packB(w.bp, b, ldb, transB, pc, kcb, jc, ncb, nr)
			}
			// the first k block of a set writes c without reading it
			zero := 0
			if set && pc == 0 {
				zero = 1
			}
			// the rows of c in panels of sizes differing by at most one
			// (rowPanels), ks.mc/mr panels per block of A
			np, base, extra := rowPanels(m, mr)
			pb := ks.mc / mr
			for p0 := 0; p0 < np; p0 += pb {
				p1 := min(p0+pb, np)
				ic := panelStart(p0, base, extra)
				mcb := panelStart(p1, base, extra) - ic
				// A row-major (NT, NN): the row kernels read it in place;
				// transposed (TN): packed into panels
				rowA := !transA && ks.rowK != nil
				if rowA {
					_ = a[(ic+mcb-1)*lda+pc+kcb-1] // bounds of the block
				} else {
					packA(w.ap, a, lda, transA, p0, p1, base, extra, pc, kcb, mr)
				}
				kern := func(r int, bp *float32, bs int, cp *float32, ldc int, ir, panel int) {
					if rowA {
						ks.rowK[r-1](kcb, &a[(ic+ir)*lda+pc], lda, bp, bs, cp, ldc, zero)
					} else {
						ks.kern[r-1](kcb, &w.ap[panel*kcb*mr], bp, bs, cp, ldc, zero)
					}
				}
				for pi := p0; pi < p1; pi++ {
					ir := panelStart(pi, base, extra) - ic
					mrb := panelStart(pi+1, base, extra) - ic - ir
					for jr := max(0, j0-jc); jr < min(ncb, j1-jc); jr += nr {
						nrb := min(nr, ncb-jr, j1-jc-jr)
						var bp *float32
						bs := nr
						switch {
						case inPlaceB && nrb == nr:
							bp, bs = &b[pc*ldb+jc+jr], ldb
						case inPlaceB:
							bp = &bpBlock[0]
						default:
							bp = &bpBlock[(jr/nr)*kcb*nr]
						}
						ci := (ic+ir)*ldc + jc + jr
						if nrb == nr {
							kern(mrb, bp, bs, &c[ci], ldc, ir, pi-p0)
							continue
						}
						// column edge: run the full-width kernel on a copy of the tile
						t := w.ct
						if zero == 0 {
							for i := 0; i < mrb; i++ {
								copy(t[i*nr:i*nr+nrb], c[ci+i*ldc:ci+i*ldc+nrb])
							}
						}
						kern(mrb, bp, bs, &t[0], nr, ir, pi-p0)
						for i := 0; i < mrb; i++ {
							copy(c[ci+i*ldc:ci+i*ldc+nrb], t[i*nr:i*nr+nrb])
						}
					}
				}
			}
		}
	}
	ks.put(w)
}

// bInPlace: a row-major op(b) is read in place (see runSet); a variable so
// that the benchmarks can compare with packing it.
var bInPlace = true

// bInPlaceMaxLd is the largest leading dimension (floats) of a b read in place.
const bInPlaceMaxLd = 1024

// Packed is a B operand packed once for many products with the same B (a
// layer's weights within a training step): Pack fills it, MulPacked uses it.
// It refers to the b it was packed from (the generic path reads b itself), so
// b must not change while the pack is in use. The zero value is empty.
type Packed struct {
	ks     *kernelSet
	b      []float32
	ldb    int
	transB bool
	k, n   int
	data   []float32
}

// Pack packs op(b) (k×n; op(b) = bᵀ with transB, b stored (n,k), else b
// stored (k,n)) for MulPacked with the implementation in use, reusing p's
// memory. The packing copies b; it does not round or reorder any product.
func Pack(p *Packed, b []float32, ldb int, transB bool, k, n int) {
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if k < 0 || n < 0 || ldb < max(bc, 1) || (br > 0 && bc > 0 && len(b) < (br-1)*ldb+bc) {
		panic(fmt.Sprintf("gemm: Pack: b (len %d, ldb %d) does not hold a (%d,%d) matrix", len(b), ldb, br, bc))
	}
	ks := current()
	*p = Packed{ks: ks, b: b, ldb: ldb, transB: transB, k: k, n: n, data: p.data}
	if ks.kern == nil || n == 0 || k == 0 {
		return
	}
	nr := ks.nr
	size := 0
	for jc := 0; jc < n; jc += blockN {
		size += (min(blockN, n-jc) + nr - 1) / nr * nr * k
	}
	if cap(p.data) < size {
		p.data = make([]float32, size)
	}
	p.data = p.data[:size]
	off := 0
	for jc := 0; jc < n; jc += blockN {
		ncb := min(blockN, n-jc)
		for pc := 0; pc < k; pc += blockK {
			kcb := min(blockK, k-pc)
			sz := (ncb + nr - 1) / nr * nr * kcb
			packB(p.data[off:off+sz], b, ldb, transB, pc, kcb, jc, ncb, nr)
			off += sz
		}
	}
}

// MulPacked accumulates c += a·op(b) for the (m,k) row-major a and the op(b)
// packed in p: NT (p packed with transB) or NN, with the same bits as NT or
// NN on the unpacked b (the determinism contract of the package doc).
func MulPacked(c []float32, ldc int, a []float32, lda int, p *Packed, m int) {
	if p.ks == nil {
		panic("gemm: MulPacked: empty Packed")
	}
	check("MulPacked", c, ldc, a, lda, false, p.b, p.ldb, p.transB, m, p.n, p.k)
	pk := p
	if p.ks.kern == nil {
		pk = nil
	}
	p.ks.runPacked(c, ldc, a, lda, false, p.b, p.ldb, p.transB, pk, m, p.n, p.k)
}

// MulPackedSet sets c = a·op(b) (MulPacked without the old c: the same bits
// as clearing c and calling MulPacked, but c is not read; an input gradient's
// buffer need not be zeroed first). m rows; k = 0 sets c to 0.
func MulPackedSet(c []float32, ldc int, a []float32, lda int, p *Packed, m int) {
	if p.ks == nil {
		panic("gemm: MulPackedSet: empty Packed")
	}
	check("MulPackedSet", c, ldc, a, lda, false, p.b, p.ldb, p.transB, m, p.n, p.k)
	pk := p
	if p.ks.kern == nil {
		pk = nil
	}
	p.ks.runSet(c, ldc, a, lda, false, p.b, p.ldb, p.transB, pk, m, p.n, p.k, true)
}

// MulPackedCols is MulPacked (set false) or MulPackedSet (set true) on part
// part of parts shares of the columns of c and op(b) only: the shares are
// whole strips of the kernels' width, contiguous, in increasing order, and
// together cover the n columns; the columns of other parts are neither read
// nor written. Goroutines computing different parts of one product each read
// only their share of the packed b, where splitting the rows of c makes
// each read all of it: for a b too large for the caches (an LM head), that
// halves the memory traffic on two cores. Each element's bits are those of
// MulPacked or MulPackedSet.
func MulPackedCols(c []float32, ldc int, a []float32, lda int, p *Packed, m, part, parts int, set bool) {
	if p.ks == nil {
		panic("gemm: MulPackedCols: empty Packed")
	}
	if parts < 1 || part < 0 || part >= parts {
		panic(fmt.Sprintf("gemm: MulPackedCols: part %d of %d", part, parts))
	}
	check("MulPackedCols", c, ldc, a, lda, false, p.b, p.ldb, p.transB, m, p.n, p.k)
	pk := p
	if p.ks.kern == nil {
		pk = nil
	}
	nr := max(p.ks.nr, 1) // generic: any column
	j0, j1 := colShare(p.n, nr, part, parts), colShare(p.n, nr, part+1, parts)
	p.ks.runCols(c, ldc, a, lda, false, p.b, p.ldb, p.transB, pk, m, p.n, p.k, set, j0, j1)
}

// colShare is the first column of share q of parts: the ⌈n/nr⌉ strips of nr
// columns split as evenly as possible (share parts starts at n).
func colShare(n, nr, q, parts int) int {
	strips := (n + nr - 1) / nr
	return min(n, q*strips/parts*nr)
}

// get takes a free workspace or makes one. Unlike a sync.Pool, the free list
// is never emptied by the garbage collector, so that callers in steady state
// (the model's training step) never allocate.
func (ks *kernelSet) get() *workspace {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if n := len(ks.free); n > 0 {
		w := ks.free[n-1]
		ks.free = ks.free[:n-1]
		return w
	}
	return &workspace{
		ap: make([]float32, ks.mc*blockK),
		bp: make([]float32, blockK*blockN),
		ct: make([]float32, ks.mr*ks.nr),
	}
}

// drop releases the free workspaces (after a calibration, of the
// implementation not chosen).
func (ks *kernelSet) drop() {
	ks.mu.Lock()
	ks.free = nil
	ks.mu.Unlock()
}

func (ks *kernelSet) put(w *workspace) {
	ks.mu.Lock()
	ks.free = append(ks.free, w)
	ks.mu.Unlock()
}

// rowPanels splits m rows into np = ⌈m/mr⌉ panels of base+1 rows (the first
// extra panels) and base rows (the others), base+1 ≤ mr: a row count that is
// not a multiple of mr runs on kernels of nearly full height (64 rows with
// mr = 12 as 11, 11, 11, 11, 10, 10 rather than 12, 12, 12, 12, 12, 4, whose
// last kernel keeps too few accumulators busy to hide the FMA latency). Rows
// are independent, so the split changes no bit.
func rowPanels(m, mr int) (np, base, extra int) {
	np = (m + mr - 1) / mr
	if np == 0 {
		return 0, 0, 0
	}
	return np, m / np, m % np
}

// panelStart is the first row of panel p of rowPanels' split.
func panelStart(p, base, extra int) int { return p*base + min(p, extra) }

// packA copies the rows of panels p0..p1-1 (rowPanels' split with base and
// extra; their first row is ic = panelStart(p0)), steps pc..pc+kcb-1 of
// op(a), into panels of mr floats per step: for row i of panel q,
// dst[(q-p0)*kcb*mr + p*mr + i] = op(a)[panelStart(q)+i, pc+p]. The floats
// past a panel's height are zero or, for a transposed a, may hold the next
// rows of op(a): the kernel of a panel of r rows reads only r per step.
func packA(dst, a []float32, lda int, transA bool, p0, p1, base, extra, pc, kcb, mr int) {
	for q := p0; q < p1; q++ {
		r0 := panelStart(q, base, extra)
		mrb := panelStart(q+1, base, extra) - r0
		d := dst[(q-p0)*kcb*mr : (q-p0+1)*kcb*mr]
		if transA {
			// op(a)[i,p] = a[p*lda+i]: each step is a contiguous run of rows
			// a panel of fewer rows may copy the next rows too where they
			// exist: its kernel reads only its own
			if packRowsFast != nil && (mr == 12 || mr == 6) && (pc+kcb-1)*lda+r0+mr <= len(a) {
				packRowsFast(mr, &d[0], &a[pc*lda+r0], lda, kcb)
				continue
			}
			for p := 0; p < kcb; p++ {
				o := (pc+p)*lda + r0
				copy(d[p*mr:p*mr+mrb], a[o:o+mrb])
				clear(d[p*mr+mrb : (p+1)*mr])
			}
			continue
		}
		// op(a)[i,p] = a[i*lda+p]
		transpose(d, mr, a[r0*lda+pc:], lda, mrb, kcb)
	}
}

// packB copies steps pc..pc+kcb-1, columns jc..jc+ncb-1 of op(b) into strips of
// nr columns: dst[strip*kcb*nr + p*nr + j] = op(b)[pc+p, jc+strip*nr+j]. Columns
// past the edge of the last strip are zero.
func packB(dst, b []float32, ldb int, transB bool, pc, kcb, jc, ncb, nr int) {
	for jr := 0; jr < ncb; jr += nr {
		nrb := min(nr, ncb-jr)
		d := dst[(jr/nr)*kcb*nr : (jr/nr+1)*kcb*nr]
		if !transB {
			if nrb == nr && packStripFast != nil && (nr == 16 || nr == 32) {
				_ = b[(pc+kcb-1)*ldb+jc+jr+nr-1] // bounds of the strip
				packStripFast(nr, &d[0], &b[pc*ldb+jc+jr], ldb, kcb)
				continue
			}
			for p := 0; p < kcb; p++ {
				o := (pc+p)*ldb + jc + jr
				copy(d[p*nr:p*nr+nrb], b[o:o+nrb])
				clear(d[p*nr+nrb : (p+1)*nr])
			}
			continue
		}
		// op(b)[p,j] = b[j*ldb+p]: transpose nrb rows of b
		transpose(d, nr, b[(jc+jr)*ldb+pc:], ldb, nrb, kcb)
	}
}

// packRowsFast, when not nil, copies k rows of w floats (w = 12 or 6), lds
// apart in src, to consecutive rows of dst: packA's full panels of a
// transposed operand. The caller checks the bounds.
var packRowsFast func(w int, dst, src *float32, lds, k int)

// packStripFast, when not nil, copies k rows of w floats (w = 16 or 32), lds
// apart in src, to consecutive rows of dst: packB's full strips of a
// non-transposed operand. The caller checks the bounds.
var packStripFast func(w int, dst, src *float32, lds, k int)

// transposeBlocks, when not nil, transposes nb w×w blocks (w = 8 or 4) of the w
// rows of src (leading dimension lds) into dst (leading dimension ldd):
// dst[(w·b+q)*ldd+i] = src[i*lds+w·b+q]. The caller checks the bounds.
var transpose8x8Fast, transpose4x4Fast func(dst *float32, ldd int, src *float32, lds int, nb int)

// transpose writes the r×s matrix src (leading dimension lds) transposed into
// the s×ldd matrix dst, dst[p*ldd+i] = src[i*lds+p], and zeroes dst[p*ldd+i]
// for r ≤ i < ldd: the packing of a row-major operand into step-major panels.
// Groups of 8 and 4 rows use the SIMD block transposes where the CPU has them;
// the rest is copied element by element.
func transpose(dst []float32, ldd int, src []float32, lds, r, s int) {
	if r > ldd {
		panic("gemm: transpose: more rows than the destination's leading dimension")
	}
	dst = dst[:s*ldd]
	i := 0
	if s8 := s &^ 7; transpose8x8Fast != nil && s8 > 0 {
		for ; i+8 <= r; i += 8 {
			_ = src[(i+7)*lds+s8-1] // bounds of the block rows
			transpose8x8Fast(&dst[i], ldd, &src[i*lds], lds, s8/8)
			tailColumns(dst, ldd, src, lds, i, i+8, s8, s)
		}
	}
	if s4 := s &^ 3; transpose4x4Fast != nil && s4 > 0 {
		for ; i+4 <= r; i += 4 {
			_ = src[(i+3)*lds+s4-1]
			transpose4x4Fast(&dst[i], ldd, &src[i*lds], lds, s4/4)
			tailColumns(dst, ldd, src, lds, i, i+4, s4, s)
		}
	}
	tailColumns(dst, ldd, src, lds, i, r, 0, s)
	if r < ldd {
		for p := range s {
			clear(dst[p*ldd+r : (p+1)*ldd])
		}
	}
}

// tailColumns transposes rows i0..i1-1, columns p0..p1-1 of src element by
// element (dst as in transpose).
func tailColumns(dst []float32, ldd int, src []float32, lds, i0, i1, p0, p1 int) {
	for i := i0; i < i1; i++ {
		for p, v := range src[i*lds+p0 : i*lds+p1] {
			dst[(p0+p)*ldd+i] = v
		}
	}
}

// colSum32Fast, when not nil, adds to dst[0:32] the column sums of k rows of
// 32 floats lds apart in src (see ColSum). The caller checks the bounds.
var colSum32Fast func(dst, src *float32, lds, k int)

// ColSumSet sets dst[j] = s_j (ColSum without the old dst: the same bits as
// clearing dst and calling ColSum).
func ColSumSet(dst, src []float32, lds, rows, cols int) {
	clear(dst[:max(cols, 0)])
	ColSum(dst, src, lds, rows, cols)
}

// ColSum accumulates the column sums of the (rows, cols) row-major matrix src
// (leading dimension lds ≥ cols) into dst:
//
//	dst[j] += s_j,   s_j = ((0 + src[j]) + src[lds+j]) + … + src[(rows-1)*lds+j]
//
// each s_j in its own float32 accumulator, rows in increasing order, then
// added to dst[j] (a Linear layer's bias gradient, db += Σ_t dout[t,:]). SIMD
// where the CPU has AVX; the bits are the same everywhere.
func ColSum(dst, src []float32, lds, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	if lds < cols || len(src) < (rows-1)*lds+cols || len(dst) < cols {
		panic(fmt.Sprintf("gemm: ColSum: src (len %d, lds %d) or dst (len %d) too short for (%d,%d)", len(src), lds, len(dst), rows, cols))
	}
	var s [32]float32
	j := 0
	if colSum32Fast != nil {
		for ; j+32 <= cols; j += 32 {
			colSum32Fast(&dst[j], &src[j], lds, rows)
		}
	}
	for ; j < cols; j += len(s) {
		acc := s[:min(len(s), cols-j)]
		clear(acc)
		for t := 0; t < rows; t++ {
			for i, v := range src[t*lds+j : t*lds+j+len(acc)] {
				acc[i] += v
			}
		}
		for i, v := range acc {
			dst[j+i] += v
		}
	}
}
