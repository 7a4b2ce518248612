package pref

import (
	"unsafe"

	"entangle/internal/gemm"
	"entangle/internal/num"
	"entangle/pkg/entangle"
	"entangle/pkg/model"
)

// passBlock is the block length of pairPass's float64 partial sums, which are
// then added with Neumaier's compensation.
const passBlock = 1024

// pairPass is the one pass over a pair's gradients (gw, gl) that the step
// needs. With dst != nil it accumulates, element by element,
//
//	dst += F(a·gw + c·gl)   (in float64),   sw += gw,   sl += gl
//
// and with dots it sets gd[g] to ⟨gw,gl⟩, ‖gw‖², ‖gl‖² over each group's
// range, in float64 (the products of float32 values are exact): partial sums
// over blocks of passBlock elements, added with Neumaier's compensation.
// Every value depends only on its inputs, never on the lanes.
//
// float32 runs each block through gemm.PairBlock (SIMD where available: the
// same element formula, the dots in 16 float64 lanes reduced by
// gemm.SumLanes); float64 runs the loops below.
func pairPass[F model.Float](dst, sw, sl, gw, gl []F, a, c float64, ranges []entangle.Range, gd []entangle.GroupDot, dots bool, acc *[48]float64) {
	pairPassFold(dst, sw, sl, gw, gl, a, c, ranges, gd, dots, acc, nil, nil)
}

// zeroBlocks tells the pass which blocks of one range, the untied input
// embedding's (wte), hold only zeros: a sequence's gradient with respect
// to it is non-zero only in the rows of its tokens (pythia-160m: 38.6 M of
// 162 M parameters, of which a pair touches ~100 rows of 768). A block
// (passBlock elements of the range, numbered from its start) is skipped
// for the pair when pair[k] is false, and for the batch sums' dots when
// batch[k] is false; the caller has set the skipped blocks of dst, sw and
// sl to zero (Stepper.clearEmbedding).
//
// The bits are those of the dense pass. In the skipped blocks the pair's
// values are exact zeros (±0), so dst += F(a·0 + c·0), sw += 0 and sl += 0
// leave each element as it is (none of them is −0: they start at +0 and a
// sum is −0 only when both terms are), and the block's dots are a +0 that
// Neumaier's compensated addition leaves the running sum and its
// compensation unchanged by (again neither is −0). TestSparseEmbedding
// checks it on untied models of three block kinds.
type zeroBlocks struct {
	g     int    // the range, -1 for none
	pair  []bool // block k of range g is touched by the pair's gradients
	batch []bool // block k of range g is touched by some pair of the batch
}

// skips reports whether block k of range g is all zeros in the pair's
// gradients (pair) or in the batch sums (batch).
func (z *zeroBlocks) skips(g, k int) (pair, batch bool) {
	if z == nil || g != z.g {
		return false, false
	}
	return !z.pair[k], z.batch != nil && !z.batch[k]
}

// batchFold makes pairPassFold do the batch's first and last pair's extra
// work inside its pass (dst != nil), block by block while the block is in
// cache, instead of in passes of their own over the whole vectors:
//
//   - First: dst, sw and sl are cleared block by block just before the pair
//     is added (the bits of clearing them beforehand);
//   - Last: after the pair is added, the block's ⟨sw,sl⟩, ‖sw‖², ‖sl‖² are
//     taken like the pair's dots (float64, 16 lanes per block, blocks added
//     with Neumaier's compensation in index order) into D, WW, LL: the
//     batch sums' statistics (BatchStats.BatchDot etc. before the 1/B²).
type batchFold struct {
	First, Last bool
	D, WW, LL   float64
}

// pairPassFold is pairPass with the batch's first or last pair's work
// (fold, which may be nil).
func pairPassFold[F model.Float](dst, sw, sl, gw, gl []F, a, c float64, ranges []entangle.Range, gd []entangle.GroupDot, dots bool, acc *[48]float64, fold *batchFold, zb *zeroBlocks) {
	if dst == nil || (fold != nil && !fold.First && !fold.Last) {
		fold = nil
	}
	if unsafe.Sizeof(F(0)) == 4 {
		pairPass32(num.As32(dst), num.As32(sw), num.As32(sl), num.As32(gw), num.As32(gl), a, c, ranges, gd, dots, acc, fold, zb)
		return
	}
	var bs [6]float64 // the batch sums' dots and their compensations
	for g, r := range ranges {
		var sd, cd, sa, ca, sb, cb float64
		for off := r.Off; off < r.Off+r.Len; off += passBlock {
			end := min(off+passBlock, r.Off+r.Len)
			if skip, skipSums := zb.skips(g, (off-r.Off)/passBlock); skip {
				if fold != nil && fold.Last && !skipSums {
					bd, ba, bb := blockDots(sw[off:end], sl[off:end])
					bs[0], bs[1] = num.Neumaier(bs[0], bs[1], bd)
					bs[2], bs[3] = num.Neumaier(bs[2], bs[3], ba)
					bs[4], bs[5] = num.Neumaier(bs[4], bs[5], bb)
				}
				continue
			}
			x, y := gw[off:end], gl[off:end]
			y = y[:len(x)]
			if dst != nil {
				d, u, v := dst[off:end], sw[off:end], sl[off:end]
				d, u, v = d[:len(x)], u[:len(x)], v[:len(x)]
				if fold != nil && fold.First {
					clear(d)
					clear(u)
					clear(v)
				}
				for k, xk := range x {
					yk := y[k]
					d[k] += F(float64(a*float64(xk)) + float64(c*float64(yk)))
					u[k] += xk
					v[k] += yk
				}
				if fold != nil && fold.Last {
					bd, ba, bb := blockDots(u, v)
					bs[0], bs[1] = num.Neumaier(bs[0], bs[1], bd)
					bs[2], bs[3] = num.Neumaier(bs[2], bs[3], ba)
					bs[4], bs[5] = num.Neumaier(bs[4], bs[5], bb)
				}
			}
			if !dots {
				continue
			}
			bd, ba, bb := blockDots(x, y)
			sd, cd = num.Neumaier(sd, cd, bd)
			sa, ca = num.Neumaier(sa, ca, ba)
			sb, cb = num.Neumaier(sb, cb, bb)
		}
		if dots {
			gd[g] = entangle.GroupDot{Name: r.Name, Dot: sd + cd, AA: sa + ca, BB: sb + cb}
		}
	}
	if fold != nil && fold.Last {
		fold.D, fold.WW, fold.LL = bs[0]+bs[1], bs[2]+bs[3], bs[4]+bs[5]
	}
}

// blockDots returns ⟨x,y⟩, ‖x‖², ‖y‖² of one block in float64 (two
// accumulators each, even and odd elements).
func blockDots[F model.Float](x, y []F) (dot, xx, yy float64) {
	y = y[:len(x)]
	var d0, d1, a0, a1, b0, b1 float64
	k := 0
	for ; k+1 < len(x); k += 2 {
		x0, x1, y0, y1 := float64(x[k]), float64(x[k+1]), float64(y[k]), float64(y[k+1])
		d0 += x0 * y0
		d1 += x1 * y1
		a0 += x0 * x0
		a1 += x1 * x1
		b0 += y0 * y0
		b1 += y1 * y1
	}
	if k < len(x) {
		x0, y0 := float64(x[k]), float64(y[k])
		d0 += x0 * y0
		a0 += x0 * x0
		b0 += y0 * y0
	}
	return d0 + d1, a0 + a1, b0 + b1
}

// pairPass32 is pairPass for float32 gradients.
// acc is scratch.
func pairPass32(dst, sw, sl, gw, gl []float32, a, c float64, ranges []entangle.Range, gd []entangle.GroupDot, dots bool, acc *[48]float64, fold *batchFold, zb *zeroBlocks) {
	pacc := acc
	if !dots {
		pacc = nil
	}
	var bs [6]float64 // the batch sums' dots and their compensations
	for g, r := range ranges {
		var sd, cd, sa, ca, sb, cb float64
		for off := r.Off; off < r.Off+r.Len; off += passBlock {
			end := min(off+passBlock, r.Off+r.Len)
			if skip, skipSums := zb.skips(g, (off-r.Off)/passBlock); skip {
				if fold != nil && fold.Last && !skipSums {
					*acc = [48]float64{}
					gemm.PairBlock(nil, nil, nil, sw[off:end], sl[off:end], 0, 0, acc)
					bd, ba, bb := gemm.SumLanes(acc)
					bs[0], bs[1] = num.Neumaier(bs[0], bs[1], bd)
					bs[2], bs[3] = num.Neumaier(bs[2], bs[3], ba)
					bs[4], bs[5] = num.Neumaier(bs[4], bs[5], bb)
				}
				continue
			}
			var d, u, v []float32
			if dst != nil {
				d, u, v = dst[off:end], sw[off:end], sl[off:end]
				if fold != nil && fold.First {
					clear(d)
					clear(u)
					clear(v)
				}
			}
			*acc = [48]float64{}
			gemm.PairBlock(d, u, v, gw[off:end], gl[off:end], a, c, pacc)
			if dots {
				bd, ba, bb := gemm.SumLanes(acc)
				sd, cd = num.Neumaier(sd, cd, bd)
				sa, ca = num.Neumaier(sa, ca, ba)
				sb, cb = num.Neumaier(sb, cb, bb)
			}
			if fold != nil && fold.Last {
				*acc = [48]float64{}
				gemm.PairBlock(nil, nil, nil, u, v, 0, 0, acc)
				bd, ba, bb := gemm.SumLanes(acc)
				bs[0], bs[1] = num.Neumaier(bs[0], bs[1], bd)
				bs[2], bs[3] = num.Neumaier(bs[2], bs[3], ba)
				bs[4], bs[5] = num.Neumaier(bs[4], bs[5], bb)
			}
		}
		if dots {
			gd[g] = entangle.GroupDot{Name: r.Name, Dot: sd + cd, AA: sa + ca, BB: sb + cb}
		}
	}
	if fold != nil && fold.Last {
		fold.D, fold.WW, fold.LL = bs[0]+bs[1], bs[2]+bs[3], bs[4]+bs[5]
	}
}

// couplePair is one pair of a couple pass: its gradients, its coefficients
// (dst += a·g_w + c·g_l), whether it is added at all (on: false for a pair
// whose gradients failed) and whether its dots are taken.
type couplePair[F model.Float] struct {
	gw, gl   []F
	a, c     float64
	on, dots bool
	gd       []entangle.GroupDot
	touched  []bool // zeroBlocks.pair of the pair (coupleHalf's zb)
}

// passBlocks returns the number of blocks of passBlock elements over the
// ranges (each range in blocks of its own).
func passBlocks(ranges []entangle.Range) int {
	nb := 0
	for _, r := range ranges {
		nb += (r.Len + passBlock - 1) / passBlock
	}
	return nb
}

// coupleHalf is the pass of two consecutive pairs of the batch (ps[0], then
// ps[1]) over the blocks lo..hi-1 of the ranges (numbered in index order):
// each block gets pairPassFold's work for ps[0] and then for ps[1] while it
// is in cache, so that dst, sw and sl are read and written once for two
// pairs; every element's additions are those of the two pairs' passes in
// batch order (the same bits). With first, dst, sw and sl are cleared block
// by block before ps[0] is added; with last, the block's dots of sw, sl are
// taken after ps[1]. The block sums that pairPassFold adds with Neumaier's
// compensation are written to out (9 per block: ps[0]'s ⟨g_w,g_l⟩, ‖g_w‖²,
// ‖g_l‖², ps[1]'s, the sums'), for coupleCombine to add in index order once
// every block is done: two goroutines can run halves of the blocks, and the
// results do not depend on how the blocks were split.
//
// With zb (not nil), range zb.g is the untied input embedding's: a pair q
// skips its blocks k with !ps[q].touched[k], and the sums' dots the blocks
// with !zb.batch[k] (their block sums are zeros: zeroBlocks); the range is
// not cleared here (Stepper.clearEmbedding did).
func coupleHalf[F model.Float](dst, sw, sl []F, ps *[2]couplePair[F], ranges []entangle.Range, first, last bool, lo, hi int, out []float64, acc *[48]float64, zb *zeroBlocks) {
	b := 0
	for g, r := range ranges {
		nb := (r.Len + passBlock - 1) / passBlock
		emb := zb != nil && g == zb.g
		for k := max(0, lo-b); k < min(nb, hi-b); k++ {
			off := r.Off + k*passBlock
			end := min(off+passBlock, r.Off+r.Len)
			d, u, v := dst[off:end], sw[off:end], sl[off:end]
			if first && !emb {
				clear(d)
				clear(u)
				clear(v)
			}
			o := out[9*(b+k) : 9*(b+k)+9]
			for q := range ps {
				if p := &ps[q]; p.on {
					if emb && !p.touched[k] { // zeros: the dense pass's bits (zeroBlocks)
						o[3*q], o[3*q+1], o[3*q+2] = 0, 0, 0
						continue
					}
					o[3*q], o[3*q+1], o[3*q+2] = blockAdd(d, u, v, p.gw[off:end], p.gl[off:end], p.a, p.c, p.dots, acc)
				}
			}
			if last && emb && !zb.batch[k] {
				o[6], o[7], o[8] = 0, 0, 0
			} else if last {
				o[6], o[7], o[8] = blockAdd(nil, nil, nil, u, v, 0, 0, true, acc)
			}
		}
		b += nb
	}
}

// blockAdd is one block of pairPassFold's pass: with d != nil, d += F(a·x +
// c·y), u += x, v += y; with dots, it returns ⟨x,y⟩, ‖x‖², ‖y‖² in float64
// (pairPass32's and pairPassFold's code for one block: the same bits).
func blockAdd[F model.Float](d, u, v, x, y []F, a, c float64, dots bool, acc *[48]float64) (dot, xx, yy float64) {
	if unsafe.Sizeof(F(0)) == 4 {
		*acc = [48]float64{}
		pacc := acc
		if !dots {
			pacc = nil
		}
		gemm.PairBlock(num.As32(d), num.As32(u), num.As32(v), num.As32(x), num.As32(y), a, c, pacc)
		if !dots {
			return 0, 0, 0
		}
		return gemm.SumLanes(acc)
	}
	if d != nil {
		y = y[:len(x)]
		d, u, v = d[:len(x)], u[:len(x)], v[:len(x)]
		for k, xk := range x {
			yk := y[k]
			d[k] += F(float64(a*float64(xk)) + float64(c*float64(yk)))
			u[k] += xk
			v[k] += yk
		}
	}
	if !dots {
		return 0, 0, 0
	}
	return blockDots(x, y)
}

// coupleCombine adds coupleHalf's block sums (out, every block done) in
// index order with Neumaier's compensation, as pairPassFold does: each
// pair's dots per range into its gd (pairs with dots), and with last the
// sums' dots into fold.D, WW, LL.
func coupleCombine[F model.Float](ps *[2]couplePair[F], ranges []entangle.Range, last bool, out []float64, fold *batchFold) {
	var bs [6]float64
	b := 0
	for g, r := range ranges {
		nb := (r.Len + passBlock - 1) / passBlock
		var s [2][6]float64
		for k := b; k < b+nb; k++ {
			o := out[9*k : 9*k+9]
			for q := range ps {
				if ps[q].on && ps[q].dots {
					t := &s[q]
					t[0], t[1] = num.Neumaier(t[0], t[1], o[3*q])
					t[2], t[3] = num.Neumaier(t[2], t[3], o[3*q+1])
					t[4], t[5] = num.Neumaier(t[4], t[5], o[3*q+2])
				}
			}
			if last {
				bs[0], bs[1] = num.Neumaier(bs[0], bs[1], o[6])
				bs[2], bs[3] = num.Neumaier(bs[2], bs[3], o[7])
				bs[4], bs[5] = num.Neumaier(bs[4], bs[5], o[8])
			}
		}
		for q := range ps {
			if ps[q].on && ps[q].dots {
				t := &s[q]
				ps[q].gd[g] = entangle.GroupDot{Name: r.Name, Dot: t[0] + t[1], AA: t[2] + t[3], BB: t[4] + t[5]}
			}
		}
		b += nb
	}
	if last {
		fold.D, fold.WW, fold.LL = bs[0]+bs[1], bs[2]+bs[3], bs[4]+bs[5]
	}
}
