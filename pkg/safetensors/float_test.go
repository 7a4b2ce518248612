package safetensors

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHalfRoundTrip converts every one of the 65,536 F16 and BF16 bit
// patterns to float32 and back: the bits must come back unchanged (NaN
// payloads included), which is what makes an F16/BF16 → float32 → F16/BF16
// round trip byte-identical.
func TestHalfRoundTrip(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		if got := Float32ToF16(F16ToFloat32(h)); got != h {
			t.Fatalf("F16 %#04x → %v → %#04x", h, F16ToFloat32(h), got)
		}
		bf := math.Float32frombits(uint32(h) << 16)
		if got := Float32ToBF16(bf); got != h {
			t.Fatalf("BF16 %#04x → %v → %#04x", h, bf, got)
		}
	}
}

// TestF16Values checks hand-worked encodings.
func TestF16Values(t *testing.T) {
	for _, tc := range []struct {
		h uint16
		f float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x3555, 0.333251953125}, {0x7bff, 65504},
		{0x0400, 6.103515625e-05}, {0x0001, 5.960464477539063e-08}, {0x03ff, 6.097555160522461e-05},
		{0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))},
	} {
		if got := F16ToFloat32(tc.h); got != tc.f {
			t.Errorf("F16ToFloat32(%#04x) = %v, want %v", tc.h, got, tc.f)
		}
		if got := Float32ToF16(tc.f); got != tc.h {
			t.Errorf("Float32ToF16(%v) = %#04x, want %#04x", tc.f, got, tc.h)
		}
	}
	// Rounding: 65520 is the midpoint between 65504 and 2^16 (Inf): ties to
	// even overflow; 2^-25 is half the smallest subnormal: ties to zero.
	for _, tc := range []struct {
		f float32
		h uint16
	}{
		{65519, 0x7bff}, {65520, 0x7c00}, {1e6, 0x7c00}, {-1e6, 0xfc00},
		{1 + 1.0/2048, 0x3c00}, {1 + 3.0/2048, 0x3c02}, {1 + 1.0/2048 + 1.0/65536, 0x3c01},
		{0x1p-25, 0x0000}, {0x1.000002p-25, 0x0001}, {0x3p-25, 0x0002}, {1e-30, 0}, {-1e-30, 0x8000},
		{float32(math.NaN()), 0x7e00},
	} {
		if got := Float32ToF16(tc.f); got != tc.h {
			t.Errorf("Float32ToF16(%g) = %#04x, want %#04x", tc.f, got, tc.h)
		}
	}
	if got := Float32ToBF16(1 + 0x1p-8); got != 0x3f80 { // tie, even stays
		t.Errorf("Float32ToBF16(1+2^-8) = %#04x, want 0x3f80", got)
	}
	if got := Float32ToBF16(1 + 0x1p-8 + 0x1p-20); got != 0x3f81 {
		t.Errorf("Float32ToBF16(1+2^-8+2^-20) = %#04x, want 0x3f81", got)
	}
	if got := Float32ToBF16(math.Float32frombits(0x7f800001)); got&0x7f == 0 || got&0x7f80 != 0x7f80 {
		t.Errorf("Float32ToBF16(NaN with a low payload) = %#04x, not a NaN", got)
	}
}

// TestNearest checks on random float32s that the F16 and BF16 chosen are the
// nearest representable values (ties to even), by comparing with both
// neighbours in float64.
func TestNearest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		f := math.Float32frombits(rng.Uint32())
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			continue
		}
		if i%2 == 0 { // also plenty in F16's range
			f = float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(40)-25)))
		}
		for _, c := range []struct {
			name string
			enc  func(float32) uint16
			dec  func(uint16) float32
		}{
			{"F16", Float32ToF16, F16ToFloat32},
			{"BF16", Float32ToBF16, func(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }},
		} {
			h := c.enc(f)
			got := float64(c.dec(h))
			if math.IsInf(got, 0) {
				continue // overflow: checked by hand above
			}
			d := math.Abs(float64(f) - got)
			for _, nb := range []uint16{h + 1, h - 1} {
				v := float64(c.dec(nb))
				if math.IsNaN(v) || math.Signbit(v) != math.Signbit(got) && got != 0 {
					continue
				}
				dn := math.Abs(float64(f) - v)
				if dn < d || (dn == d && h&1 == 1) {
					t.Fatalf("%s(%g) = %#04x (%g), but %#04x (%g) is nearer or the even tie", c.name, f, h, got, nb, v)
				}
			}
		}
	}
}

func TestHeaderAndReader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "h.safetensors")
	vals := []float32{1, -2.5, 0.1, 3e-5, 65504, -0}
	ts := []Tensor{
		Floats("a", "F32", []int{2, 3}, vals),
		Floats("b", "F16", []int{6}, vals),
		Floats("c", "BF16", []int{3, 2}, vals),
		{Name: "mask", DType: "BOOL", Shape: []int{2}, Data: []byte{1, 0}},
	}
	if err := WriteFile(path, ts, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Meta["k"] != "v" || len(r.Tensors) != 4 {
		t.Fatalf("header: meta %v, %d tensors", r.Meta, len(r.Tensors))
	}
	for _, name := range []string{"a", "b", "c"} {
		got := make([]float32, 6)
		if err := r.ReadFloat32s(name, got); err != nil {
			t.Fatal(err)
		}
		in, _ := r.Info(name)
		for i, v := range vals {
			want := v
			switch in.DType {
			case "F16":
				want = F16ToFloat32(Float32ToF16(v))
			case "BF16":
				want = math.Float32frombits(uint32(Float32ToBF16(v)) << 16)
			}
			if got[i] != want {
				t.Errorf("%s[%d] = %v, want %v", name, i, got[i], want)
			}
		}
		raw, err := r.Bytes(name)
		if err != nil || !bytes.Equal(raw, ts[map[string]int{"a": 0, "b": 1, "c": 2}[name]].Data) {
			t.Errorf("Bytes(%s) = %v, %v", name, raw, err)
		}
	}
	for _, tc := range []struct {
		name string
		n    int
		want string
	}{
		{"mask", 2, "want F32, F16 or BF16"},
		{"a", 5, "has 6 elements"},
		{"zz", 1, "no tensor"},
	} {
		if err := r.ReadFloat32s(tc.name, make([]float32, tc.n)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadFloat32s(%s) error %v, want %q", tc.name, err, tc.want)
		}
	}
	// A tensor larger than one chunk converts across chunk boundaries.
	big := make([]float32, chunk/2+7)
	for i := range big {
		big[i] = float32(i) * 0.25
	}
	if err := WriteFile(path, []Tensor{Floats("x", "F16", []int{len(big)}, big)}, nil); err != nil {
		t.Fatal(err)
	}
	r2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	got := make([]float32, len(big))
	if err := r2.ReadFloat32s("x", got); err != nil {
		t.Fatal(err)
	}
	for i := range big {
		if want := F16ToFloat32(Float32ToF16(big[i])); got[i] != want {
			t.Fatalf("x[%d] = %v, want %v", i, got[i], want)
		}
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Open(dir) error %v", err)
	}
	if err := os.WriteFile(path, []byte{1, 2}, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Open(truncated) error %v, want the path named", err)
	}
}
