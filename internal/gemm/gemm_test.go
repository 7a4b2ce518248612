package gemm

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// ops are the three products under test, by name, with the stored shapes of
// their operands: a is (ar,ac), b is (br,bc) for a product of size m,n,k.
var ops = []struct {
	name           string
	transA, transB bool
	call           func(c []float32, ldc int, a []float32, lda int, b []float32, ldb int, m, n, k int)
}{
	{"NT", false, true, NT},
	{"NN", false, false, NN},
	{"TN", true, false, TN},
}

func storedShape(trans bool, r, s int) (int, int) {
	if trans {
		return s, r
	}
	return r, s
}

// problem is one product with random operands stored with padded leading
// dimensions at unaligned offsets inside larger buffers.
type problem struct {
	m, n, k        int
	transA, transB bool
	a, b, c        []float32 // sub-slices starting at the matrix
	lda, ldb, ldc  int
	cbuf           []float32 // c's whole buffer, padding included
	coff           int
	sentinel       float32
}

func newProblem(rng *rand.Rand, m, n, k int, transA, transB bool) *problem {
	p := &problem{m: m, n: n, k: k, transA: transA, transB: transB, sentinel: 12345.5}
	ar, ac := storedShape(transA, m, k)
	br, bc := storedShape(transB, k, n)
	mat := func(r, s int) ([]float32, int) {
		ld := s + rng.IntN(4) // 0..3 floats of padding per row
		off := rng.IntN(4)    // start 0..3 floats into the buffer: unaligned
		buf := make([]float32, off+r*ld+rng.IntN(3))
		for i := range buf {
			buf[i] = float32(rng.Float64()*2 - 1)
		}
		return buf[off:], ld
	}
	p.a, p.lda = mat(ar, ac)
	p.b, p.ldb = mat(br, bc)
	p.ldc = n + rng.IntN(4)
	p.coff = rng.IntN(4)
	p.cbuf = make([]float32, p.coff+m*p.ldc+2)
	for i := range p.cbuf {
		p.cbuf[i] = p.sentinel
	}
	p.c = p.cbuf[p.coff:]
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			p.c[i*p.ldc+j] = float32(rng.Float64()*2 - 1)
		}
	}
	return p
}

// clone returns a copy of p with its own c buffer.
func (p *problem) clone() *problem {
	q := *p
	q.cbuf = append([]float32(nil), p.cbuf...)
	q.c = q.cbuf[p.coff:]
	return &q
}

// opA and opB read op(a)[i,p] and op(b)[p,j].
func (p *problem) opA(i, q int) float32 {
	if p.transA {
		return p.a[q*p.lda+i]
	}
	return p.a[i*p.lda+q]
}

func (p *problem) opB(q, j int) float32 {
	if p.transB {
		return p.b[j*p.ldb+q]
	}
	return p.b[q*p.ldb+j]
}

// shapes returns the (m,n,k) tested: every row remainder of the 12- and 6-row
// tiles, every column remainder around the 16- and 32-column tiles, k around
// the unroll factor (4) and the k block (256), n around the n block (1024), m
// around the m blocks (192, 96), and the model's shapes.
func shapes() [][3]int {
	var s [][3]int
	for _, m := range []int{1, 2, 5, 6, 7, 11, 12, 13, 25} {
		for _, n := range []int{1, 7, 15, 16, 17, 31, 32, 33, 48, 70} {
			for _, k := range []int{1, 3, 4, 5, 9} {
				s = append(s, [3]int{m, n, k})
			}
		}
	}
	return append(s,
		[3]int{24, 64, 255}, [3]int{13, 40, 256}, [3]int{7, 33, 257}, [3]int{3, 17, 513},
		[3]int{95, 20, 10}, [3]int{97, 20, 10}, [3]int{191, 33, 7}, [3]int{193, 35, 9},
		[3]int{300, 300, 300}, [3]int{5, 1025, 3}, [3]int{37, 1100, 260},
		[3]int{64, 384, 128}, [3]int{64, 128, 512}, [3]int{128, 128, 64},
		// panels of unequal height (rowPanels), across blocks of mc rows
		[3]int{23, 33, 9}, [3]int{35, 40, 7}, [3]int{205, 33, 5}, [3]int{386, 40, 3},
	)
}

// TestRowPanels checks rowPanels' split: ⌈m/mr⌉ panels, contiguous, covering
// the m rows, of heights base or base+1 ≤ mr, the taller ones first.
func TestRowPanels(t *testing.T) {
	for _, mr := range []int{6, 12} {
		for m := 0; m <= 500; m++ {
			np, base, extra := rowPanels(m, mr)
			if np != (m+mr-1)/mr {
				t.Fatalf("m=%d mr=%d: %d panels", m, mr, np)
			}
			if got := panelStart(np, base, extra); got != m {
				t.Fatalf("m=%d mr=%d: panels end at row %d", m, mr, got)
			}
			for p := 0; p < np; p++ {
				h := panelStart(p+1, base, extra) - panelStart(p, base, extra)
				want := base
				if p < extra {
					want++
				}
				if h != want || h < 1 || h > mr {
					t.Fatalf("m=%d mr=%d: panel %d has %d rows (base %d, extra %d)", m, mr, p, h, base, extra)
				}
			}
		}
	}
}

// TestKernelsMatchGeneric checks every SIMD implementation against the pure-Go
// reference bit for bit, for every product and shape: the determinism contract
// (one float32 FMA accumulator per element, k in increasing order) makes the
// results identical, so any difference is a bug. It also checks that c's
// padding between rows and around the matrix is left untouched.
func TestKernelsMatchGeneric(t *testing.T) {
	for _, name := range []string{"avx512", "avx2"} {
		ks := byName(name)
		if ks == nil {
			t.Logf("%s: not supported on this machine (supported: %v): skipped", name, Impls())
			continue
		}
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(8, 1))
			for _, op := range ops {
				for _, sh := range shapes() {
					m, n, k := sh[0], sh[1], sh[2]
					want := newProblem(rng, m, n, k, op.transA, op.transB)
					got := want.clone()
					genericRun(want.c, want.ldc, want.a, want.lda, op.transA, want.b, want.ldb, op.transB, m, n, k)
					ks.run(got.c, got.ldc, got.a, got.lda, op.transA, got.b, got.ldb, op.transB, m, n, k)
					if i := firstDiff(got.cbuf, want.cbuf); i >= 0 {
						t.Fatalf("%s m=%d n=%d k=%d (lda=%d ldb=%d ldc=%d): c buffer[%d] = %v, generic %v",
							op.name, m, n, k, got.lda, got.ldb, got.ldc, i, got.cbuf[i], want.cbuf[i])
					}
					checkPadding(t, got)
				}
			}
		})
	}
}

func firstDiff(x, y []float32) int {
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return i
		}
	}
	return -1
}

func checkPadding(t *testing.T, p *problem) {
	t.Helper()
	for idx, v := range p.cbuf {
		o := idx - p.coff
		inside := o >= 0 && o/p.ldc < p.m && o%p.ldc < p.n
		if !inside && v != p.sentinel {
			t.Fatalf("m=%d n=%d ldc=%d: c buffer[%d] outside the matrix changed to %v", p.m, p.n, p.ldc, idx, v)
		}
	}
}

// TestGenericAccuracy checks the reference itself against float64 accumulation
// of the same products: |c - c64| ≤ 1e-5·√(k+1)·(|c0| + Σ_p |a_ip·b_pj|). Float32
// rounding errors of k+1 accumulations grow like u·√(k+1) on average with
// u = 2⁻²⁴ ≈ 6e-8, so 1e-5 leaves a wide margin for unlucky elements while
// still catching any wrong term (a wrong, missing or doubled product is of
// order |a·b| ≈ 0.3 here, far above the bound).
func TestGenericAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 2))
	for _, op := range ops {
		for _, sh := range [][3]int{{1, 1, 1}, {7, 33, 5}, {13, 17, 300}, {40, 50, 64}, {3, 5, 1000}} {
			m, n, k := sh[0], sh[1], sh[2]
			p := newProblem(rng, m, n, k, op.transA, op.transB)
			c0 := append([]float32(nil), p.c...)
			op.call(p.c, p.ldc, p.a, p.lda, p.b, p.ldb, m, n, k)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					s := float64(c0[i*p.ldc+j])
					mag := math.Abs(s)
					for q := 0; q < k; q++ {
						t := float64(p.opA(i, q)) * float64(p.opB(q, j))
						s += t
						mag += math.Abs(t)
					}
					got := float64(p.c[i*p.ldc+j])
					if tol := 1e-5 * math.Sqrt(float64(k+1)) * mag; math.Abs(got-s) > tol {
						t.Fatalf("%s %s m=%d n=%d k=%d: c[%d,%d] = %v, float64 sum %v (tol %g)", Impl(), op.name, m, n, k, i, j, got, s, tol)
					}
				}
			}
		}
	}
}

// TestRowSplit checks that computing c's rows in pieces, as the callers'
// goroutines do, gives the same bits as one call.
func TestRowSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 3))
	for _, op := range ops {
		m, n, k := 70, 90, 130
		whole := newProblem(rng, m, n, k, op.transA, op.transB)
		parts := whole.clone()
		op.call(whole.c, whole.ldc, whole.a, whole.lda, whole.b, whole.ldb, m, n, k)
		for _, r := range [][2]int{{0, 5}, {5, 31}, {31, 70}} {
			i0, i1 := r[0], r[1]
			as := parts.a[i0*parts.lda:]
			if op.transA {
				as = parts.a[i0:]
			}
			op.call(parts.c[i0*parts.ldc:], parts.ldc, as, parts.lda, parts.b, parts.ldb, i1-i0, n, k)
		}
		if i := firstDiff(parts.cbuf, whole.cbuf); i >= 0 {
			t.Fatalf("%s: row-split result differs at c buffer[%d]: %v vs %v", op.name, i, parts.cbuf[i], whole.cbuf[i])
		}
	}
}

// TestFMA32 checks fma32 against x·y+z computed exactly with math/big and
// rounded once to float32 (big.Float rounds to nearest even), on random inputs
// of mixed magnitudes and on inputs built to hit double-rounding cases.
func TestFMA32(t *testing.T) {
	exact := func(x, y, z float32) float32 {
		p := new(big.Float).SetPrec(200).Mul(big.NewFloat(float64(x)).SetPrec(200), big.NewFloat(float64(y)).SetPrec(200))
		p.Add(p, big.NewFloat(float64(z)).SetPrec(200))
		f, _ := p.Float32()
		return f
	}
	check := func(x, y, z float32) {
		t.Helper()
		if got, want := fma32(x, y, z), exact(x, y, z); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", x, y, z, got, want)
		}
	}
	// A double-rounding case: x·y = 2⁻²⁴(1+2⁻²³)(1−2⁻²³) = 2⁻²⁴ − 2⁻⁷⁰ and
	// z = 1+2⁻²³, so x·y+z lies just below the float32 midpoint 1+3·2⁻²⁴ and
	// rounds down to z; in float64 it first rounds to the midpoint itself,
	// which then rounds to even, up to 1+2⁻²². float32(x·y+z) gets it wrong.
	x := float32(math.Ldexp(1+math.Ldexp(1, -23), -24))
	y := float32(1 - math.Ldexp(1, -23))
	z := float32(1 + math.Ldexp(1, -23))
	if naive := float32(float64(x)*float64(y) + float64(z)); naive == exact(x, y, z) {
		t.Fatalf("the double-rounding case is not one: float32(x*y+z) = %g is already right", naive)
	}
	check(x, y, z)
	check(-x, y, -z)
	check(x, -y, -z)
	rng := rand.New(rand.NewPCG(8, 4))
	for range 200000 {
		// z = ±1·2^e and x·y near half an ulp of z, with a few random bits:
		// the region where midpoints happen.
		e := rng.IntN(40) - 20
		z := float32(math.Ldexp(1+float64(rng.IntN(8))*math.Ldexp(1, -23), e))
		x := float32(math.Ldexp(1+float64(rng.IntN(1<<4)-8)*math.Ldexp(1, -23), e-24))
		y := float32(1 + float64(rng.IntN(1<<4)-8)*math.Ldexp(1, -23))
		if rng.IntN(2) == 0 {
			z = -z
		}
		check(x, y, z)
		a, b, c := float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())
		check(a, b, c)
		check(float32(math.Ldexp(float64(a), -130)), b, float32(math.Ldexp(float64(c), -140))) // subnormal results
	}
}

// TestCheckPanics checks that malformed calls panic with a gemm: message.
func TestCheckPanics(t *testing.T) {
	buf := make([]float32, 100)
	cases := []struct {
		name string
		f    func()
	}{
		{"negative m", func() { NT(buf, 4, buf, 4, buf, 4, -1, 4, 4) }},
		{"short lda", func() { NN(buf, 4, buf, 3, buf, 4, 4, 4, 4) }},
		{"short ldb", func() { NT(buf, 4, buf, 4, buf, 3, 4, 4, 4) }},
		{"short ldc", func() { TN(buf, 3, buf, 4, buf, 4, 4, 4, 4) }},
		{"short a", func() { TN(buf, 4, buf[:10], 4, buf, 4, 4, 4, 4) }},
		{"short c", func() { NN(buf[:15], 4, buf, 4, buf, 4, 4, 4, 4) }},
	}
	for _, tc := range cases {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "gemm: ") {
					t.Errorf("%s: recovered %v, want a gemm: panic", tc.name, r)
				}
			}()
			tc.f()
		}()
	}
	// k == 0 leaves c alone and needs no a or b
	c := []float32{1, 2}
	NT(c, 2, nil, 1, nil, 1, 1, 2, 0)
	if c[0] != 1 || c[1] != 2 {
		t.Fatalf("k=0 changed c to %v", c)
	}
}

// TestChoose checks the selection rules: ENTANGLE_GEMM forces a supported
// implementation; otherwise the only SIMD one, a speedTable entry, or the
// calibration decides.
func TestChoose(t *testing.T) {
	var simd []string
	for _, name := range Impls() {
		if byName(name).kern != nil {
			simd = append(simd, name)
		}
	}
	def := "generic"
	if len(simd) > 0 {
		def = simd[0]
	}
	unlisted := CPU{"NoSuchVendor", 1, 2}
	for _, tc := range []struct{ env, want string }{
		{"", def}, {"generic", "generic"}, {" Generic ", "generic"}, {"nonsense", def},
	} {
		if got, why := choose(tc.env, unlisted, nil); got.name != tc.want || why == "" {
			t.Errorf("choose(%q) = %s (%s), want %s", tc.env, got.name, why, tc.want)
		}
	}
	for _, name := range Impls() {
		if got, _ := choose(name, unlisted, nil); got.name != name {
			t.Errorf("choose(%q) = %s", name, got.name)
		}
	}
	if got := Impls(); got[len(got)-1] != "generic" {
		t.Errorf("Impls() = %v, want generic last", got)
	}
	// the calibration decides between two SIMD implementations on an unlisted CPU,
	// and is not consulted otherwise
	called := false
	last := func(c []*kernelSet) (*kernelSet, string) { called = true; return c[len(c)-1], "stub" }
	got, _ := choose("", unlisted, last)
	if len(simd) > 1 && (!called || got.name != simd[len(simd)-1]) {
		t.Errorf("two SIMD implementations, unlisted CPU: choose = %s, calibration called %v", got.name, called)
	}
	if len(simd) <= 1 && called {
		t.Errorf("calibration called with %d SIMD implementations", len(simd))
	}
	// a listed CPU takes its entry
	for _, e := range speedTable {
		called = false
		got, why := choose("", e.cpu, last)
		if len(simd) > 1 && (called || got.name != e.impl || !strings.Contains(why, "speed table")) {
			t.Errorf("listed %v: choose = %s (%s), calibration called %v; want %s", e.cpu, got.name, why, called, e.impl)
		}
		if byName(e.impl) == nil && e.impl != "avx512" && e.impl != "avx2" {
			t.Errorf("speedTable entry %v names unknown implementation %q", e.cpu, e.impl)
		}
	}
	// the real calibration returns one of its candidates and says what it measured
	var cands []*kernelSet
	for _, name := range simd {
		cands = append(cands, byName(name))
	}
	if len(cands) > 0 {
		t0 := time.Now()
		ks, why := calibrate(cands)
		took := time.Since(t0)
		if !slices.Contains(cands, ks) || !strings.Contains(why, ks.name) {
			t.Errorf("calibrate = %s (%s)", ks.name, why)
		}
		t.Logf("calibrate: %s: %s; took %v", ks.name, why, took)
	}
	t.Logf("this machine: %v; Impl %s: %s", cpuKey(), Impl(), Selection())
}

// TestFastestOf checks the calibration's decision rule: the widest (first)
// unless the fastest beats it by more than 5 %.
func TestFastestOf(t *testing.T) {
	us := time.Microsecond
	for _, tc := range []struct {
		times []time.Duration
		want  int
	}{
		{[]time.Duration{100 * us}, 0},
		{[]time.Duration{100 * us, 96 * us}, 0},  // within 5 %: the wider
		{[]time.Duration{100 * us, 95 * us}, 0},  // exactly 5 %: still the wider
		{[]time.Duration{100 * us, 94 * us}, 1},  // more than 5 % faster
		{[]time.Duration{100 * us, 180 * us}, 0}, // the AVX2 half of an AVX-512 machine
		{[]time.Duration{180 * us, 100 * us}, 1}, // AVX-512 split in halves, AVX2 faster
		{[]time.Duration{100 * us, 90 * us, 88 * us}, 2},
		{[]time.Duration{100 * us, 0, 120 * us}, 0},
		{[]time.Duration{0, 120 * us}, 1},
	} {
		if got := fastestOf(tc.times); got != tc.want {
			t.Errorf("fastestOf(%v) = %d, want %d", tc.times, got, tc.want)
		}
	}
}

// TestPortablePacking runs the SIMD kernels with the pure-Go packing (what a
// CPU without AVX block transposes would use) against the reference.
func TestPortablePacking(t *testing.T) {
	ks := supported()[0]
	if ks.kern == nil {
		t.Skip("no SIMD kernels on this machine: the portable packing is what every test runs")
	}
	t8, t4, pr, ps := transpose8x8Fast, transpose4x4Fast, packRowsFast, packStripFast
	transpose8x8Fast, transpose4x4Fast, packRowsFast, packStripFast = nil, nil, nil, nil
	defer func() { transpose8x8Fast, transpose4x4Fast, packRowsFast, packStripFast = t8, t4, pr, ps }()
	rng := rand.New(rand.NewPCG(8, 5))
	for _, op := range ops {
		for _, sh := range [][3]int{{13, 37, 19}, {25, 70, 9}, {64, 128, 64}} {
			m, n, k := sh[0], sh[1], sh[2]
			want := newProblem(rng, m, n, k, op.transA, op.transB)
			got := want.clone()
			genericRun(want.c, want.ldc, want.a, want.lda, op.transA, want.b, want.ldb, op.transB, m, n, k)
			ks.run(got.c, got.ldc, got.a, got.lda, op.transA, got.b, got.ldb, op.transB, m, n, k)
			if i := firstDiff(got.cbuf, want.cbuf); i >= 0 {
				t.Fatalf("%s %s m=%d n=%d k=%d: c buffer[%d] = %v, generic %v", ks.name, op.name, m, n, k, i, got.cbuf[i], want.cbuf[i])
			}
		}
	}
}

// TestPacked: MulPacked on a Pack of b gives the same bits as NT and NN on b
// itself, for shapes with several k and n blocks and edges, with row-split
// calls (as the model makes them), and Pack reuses its memory.
func TestPacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 0))
	f := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	var p Packed
	for _, sh := range [][3]int{{1, 1, 1}, {7, 33, 5}, {13, 1100, 300}, {40, 50, 64}, {3, 5, 1000}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, transB := range []bool{true, false} {
			a := f(m * k)
			var b []float32
			ldb := k + 3
			if !transB {
				ldb = n + 3
				b = f(k * ldb)
			} else {
				b = f(n * ldb)
			}
			c0 := f(m * n)
			c1 := append([]float32(nil), c0...)
			if transB {
				NT(c1, n, a, k, b, ldb, m, n, k)
			} else {
				NN(c1, n, a, k, b, ldb, m, n, k)
			}
			Pack(&p, b, ldb, transB, k, n)
			c2 := append([]float32(nil), c0...)
			h := m / 2
			MulPacked(c2, n, a, k, &p, h)
			MulPacked(c2[h*n:], n, a[h*k:], k, &p, m-h)
			for i := range c1 {
				if math.Float32bits(c1[i]) != math.Float32bits(c2[i]) {
					t.Fatalf("m,n,k=%v transB=%v: c[%d] = %v packed, %v unpacked", sh, transB, i, c2[i], c1[i])
				}
			}
		}
	}
}

// TestColSum: ColSum (SIMD where the CPU has it) equals the scalar
// specification bit for bit: per column, a float32 sum from 0 over the rows in
// order, then added to dst; for widths around multiples of 32, with a leading
// dimension larger than the width, and large-range values (so that the
// summation order shows in the bits).
func TestColSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, rows := range []int{0, 1, 2, 7, 64, 129} {
		for _, cols := range []int{0, 1, 31, 32, 33, 64, 100, 128} {
			lds := cols + 5
			src := make([]float32, max(rows*lds, 1))
			for i := range src {
				src[i] = float32(rng.NormFloat64() * math.Exp(rng.NormFloat64()*4))
			}
			dst := make([]float32, cols)
			for i := range dst {
				dst[i] = float32(rng.NormFloat64())
			}
			want := append([]float32(nil), dst...)
			for j := range cols {
				var s float32
				for r := range rows {
					s += src[r*lds+j]
				}
				want[j] += s
			}
			ColSum(dst, src, lds, rows, cols)
			if i := firstDiff(dst, want); i >= 0 {
				t.Fatalf("rows=%d cols=%d: dst[%d] = %v, want %v", rows, cols, i, dst[i], want[i])
			}
		}
	}
}

// TestTNSet: TNSet equals clearing c and calling TN, bit for bit, for every
// implementation and shape (including k = 0, several k blocks and column
// edges), c's padding untouched; MulPackedSet equals clearing and MulPacked;
// ColSumSet equals clearing and ColSum. The set variants' c starts as NaN, so
// reading it would show.
func TestTNSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, name := range Impls() {
		ks := byName(name)
		var list [][3]int
		for i, sh := range shapes() {
			if i%7 == 0 || i >= len(shapes())-14 {
				list = append(list, sh)
			}
		}
		for _, sh := range append(list, [3]int{13, 40, 0}, [3]int{37, 70, 600}, [3]int{128, 256, 128}) {
			m, n, k := sh[0], sh[1], sh[2]
			want := newProblem(rng, m, n, k, true, false)
			got := want.clone()
			for i := 0; i < m; i++ {
				clear(want.c[i*want.ldc : i*want.ldc+n])
			}
			ks.run(want.c, want.ldc, want.a, want.lda, true, want.b, want.ldb, false, m, n, k)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					got.c[i*got.ldc+j] = float32(math.NaN()) // must not be read
				}
			}
			ks.runSet(got.c, got.ldc, got.a, got.lda, true, got.b, got.ldb, false, nil, m, n, k, true)
			if i := firstDiff(got.cbuf, want.cbuf); i >= 0 {
				t.Fatalf("%s m=%d n=%d k=%d: c buffer[%d] = %v, cleared+TN %v", name, m, n, k, i, got.cbuf[i], want.cbuf[i])
			}
			checkPadding(t, got)
		}
	}
	// MulPackedSet against clearing and MulPacked (NT and NN packs)
	var p Packed
	for _, transB := range []bool{true, false} {
		for _, sh := range [][3]int{{13, 1100, 300}, {7, 33, 5}, {64, 384, 128}, {5, 9, 0}} {
			m, n, k := sh[0], sh[1], sh[2]
			a := make([]float32, m*k)
			b := make([]float32, n*k)
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
			for i := range b {
				b[i] = float32(rng.NormFloat64())
			}
			ldb := n
			if transB {
				ldb = k
			}
			Pack(&p, b, max(ldb, 1), transB, k, n)
			c1 := make([]float32, m*n)
			MulPacked(c1, n, a, max(k, 1), &p, m)
			c2 := make([]float32, m*n)
			for i := range c2 {
				c2[i] = float32(math.NaN())
			}
			MulPackedSet(c2, n, a, max(k, 1), &p, m)
			if i := firstDiff(c1, c2); i >= 0 {
				t.Fatalf("MulPackedSet m,n,k=%v transB=%v: c[%d] = %v, cleared+MulPacked %v", sh, transB, i, c2[i], c1[i])
			}
		}
	}
	src := make([]float32, 7*40)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	d1, d2 := make([]float32, 37), make([]float32, 37)
	for i := range d2 {
		d2[i] = float32(math.NaN())
	}
	ColSum(d1, src, 40, 7, 37)
	ColSumSet(d2, src, 40, 7, 37)
	if i := firstDiff(d1, d2); i >= 0 {
		t.Fatalf("ColSumSet[%d] = %v, ColSum from 0 = %v", i, d2[i], d1[i])
	}
}

// TestSetIgnoresC: a set product (runSet with set, the path of TNSet and
// MulPackedSet) gives the bits of clearing c to +0 and accumulating, whatever
// c held before (NaN, -0, ±Inf, huge values), for every implementation,
// product, shape and both ways of reading a row-major b (in place and
// packed). Some operands are ±0, so that products of -0 show whether the
// first k block starts from +0 (fma(-1, 0, +0) = +0) or stores the bare
// product (-0).
func TestSetIgnoresC(t *testing.T) {
	defer func(v bool) { bInPlace = v }(bInPlace)
	rng := rand.New(rand.NewPCG(6, 6))
	fills := []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), float32(math.Inf(-1)), 3e38}
	var list [][3]int
	for i, sh := range shapes() {
		if i%5 == 0 || i >= len(shapes())-14 {
			list = append(list, sh)
		}
	}
	list = append(list, [3]int{13, 40, 0}, [3]int{37, 70, 600}, [3]int{24, 1030, 260})
	for _, name := range Impls() {
		ks := byName(name)
		for _, inPlace := range []bool{true, false} {
			bInPlace = inPlace
			for _, op := range ops {
				for si, sh := range list {
					m, n, k := sh[0], sh[1], sh[2]
					want := newProblem(rng, m, n, k, op.transA, op.transB)
					for i := range want.a {
						if rng.IntN(3) == 0 {
							want.a[i] = float32(math.Copysign(0, float64(want.a[i])))
						}
					}
					for i := 0; i < m; i++ {
						clear(want.c[i*want.ldc : i*want.ldc+n])
					}
					got := want.clone()
					genericRun(want.c, want.ldc, want.a, want.lda, op.transA, want.b, want.ldb, op.transB, m, n, k)
					fill := fills[si%len(fills)]
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							got.c[i*got.ldc+j] = fill
						}
					}
					ks.runSet(got.c, got.ldc, got.a, got.lda, op.transA, got.b, got.ldb, op.transB, nil, m, n, k, true)
					if i := firstDiff(got.cbuf, want.cbuf); i >= 0 {
						t.Fatalf("%s %s in place %v m=%d n=%d k=%d, c filled with %v: c buffer[%d] = %v, cleared+generic %v",
							name, op.name, inPlace, m, n, k, fill, i, got.cbuf[i], want.cbuf[i])
					}
					checkPadding(t, got)
				}
			}
		}
	}
}

// TestSetFuncs: NTSet, NNSet and TNSet equal clearing c and calling NT, NN
// and TN, bit for bit, on a c pre-filled with NaN (the implementation in use).
func TestSetFuncs(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	sets := map[string]func(c []float32, ldc int, a []float32, lda int, b []float32, ldb int, m, n, k int){
		"NT": NTSet, "NN": NNSet, "TN": TNSet,
	}
	for _, op := range ops {
		for _, sh := range [][3]int{{7, 33, 5}, {64, 384, 128}, {32, 64, 16}, {5, 9, 0}, {37, 70, 600}} {
			m, n, k := sh[0], sh[1], sh[2]
			want := newProblem(rng, m, n, k, op.transA, op.transB)
			got := want.clone()
			for i := 0; i < m; i++ {
				clear(want.c[i*want.ldc : i*want.ldc+n])
				for j := 0; j < n; j++ {
					got.c[i*got.ldc+j] = float32(math.NaN())
				}
			}
			op.call(want.c, want.ldc, want.a, want.lda, want.b, want.ldb, m, n, k)
			sets[op.name](got.c, got.ldc, got.a, got.lda, got.b, got.ldb, m, n, k)
			if i := firstDiff(got.cbuf, want.cbuf); i >= 0 {
				t.Fatalf("%sSet m=%d n=%d k=%d: c buffer[%d] = %v, cleared+%s %v", op.name, m, n, k, i, got.cbuf[i], op.name, want.cbuf[i])
			}
			checkPadding(t, got)
		}
	}
}

// TestMulPackedCols: the parts of MulPackedCols, run one after another on a
// c pre-filled with NaN (set) or with values (accumulate), give the bits of
// MulPackedSet and MulPacked, for every implementation, both packs, parts
// 1-5 and shapes with column edges and several column blocks; colShare's
// shares cover the columns in whole strips.
func TestMulPackedCols(t *testing.T) {
	current()
	defer func(ks *kernelSet) { active = ks }(active)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, name := range Impls() {
		active = byName(name) // Pack and MulPacked* use the active implementation
		for _, transB := range []bool{true, false} {
			for _, sh := range [][3]int{{13, 1100, 300}, {7, 33, 5}, {32, 3000, 40}, {5, 2049, 7}, {4, 9, 0}} {
				m, n, k := sh[0], sh[1], sh[2]
				a := make([]float32, m*max(k, 1))
				b := make([]float32, n*max(k, 1))
				c0 := make([]float32, m*n)
				for _, x := range [][]float32{a, b, c0} {
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
				}
				ldb := n
				if transB {
					ldb = max(k, 1)
				}
				var p Packed
				Pack(&p, b, ldb, transB, k, n)
				for _, set := range []bool{true, false} {
					want := slices.Clone(c0)
					if set {
						MulPackedSet(want, n, a, max(k, 1), &p, m)
					} else {
						MulPacked(want, n, a, max(k, 1), &p, m)
					}
					for parts := 1; parts <= 5; parts++ {
						got := slices.Clone(c0)
						if set {
							for i := range got {
								got[i] = float32(math.NaN())
							}
						}
						for q := range parts {
							MulPackedCols(got, n, a, max(k, 1), &p, m, q, parts, set)
						}
						if i := firstDiff(got, want); i >= 0 {
							t.Fatalf("%s transB=%v m,n,k=%v set=%v parts=%d: c[%d] = %v, want %v", name, transB, sh, set, parts, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
	for _, nr := range []int{16, 32} {
		for n := 0; n < 300; n++ {
			for parts := 1; parts <= 4; parts++ {
				if colShare(n, nr, 0, parts) != 0 || colShare(n, nr, parts, parts) != n {
					t.Fatalf("colShare n=%d nr=%d parts=%d: shares do not cover the columns", n, nr, parts)
				}
				for q := 1; q < parts; q++ {
					if j := colShare(n, nr, q, parts); j%nr != 0 || j < colShare(n, nr, q-1, parts) {
						t.Fatalf("colShare n=%d nr=%d parts=%d: share %d starts at %d", n, nr, parts, q, j)
					}
				}
			}
		}
	}
}
