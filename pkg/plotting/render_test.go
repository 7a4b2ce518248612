package plotting

import (
	"bytes"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entangle/pkg/entangle"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/vg"
)

// figures returns one figure of every kind from small inputs shaped like
// train's outputs: 2 runs, 30 steps, 16 pairs per step.
func figures(t *testing.T) map[string]*Figure {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 0))
	steps := 30
	var dyn []RunDynamics
	var ent []RunEntangle
	var plane []PlaneData
	var cases []RunCases
	var groups []RunGroups
	var fo []RunFirstOrder
	for r, name := range []string{"dpo β=0.1 1t", "dpo β=0.1 long-suffix"} {
		var tr, ho Curves
		var x []float64
		var cosS, dotS [][]float64
		var pd = PlaneData{Name: name, CaseSource: "predicted"}
		var rc = RunCases{Name: name}
		var rg = RunGroups{Name: name, Labels: []string{"embeddings", "layer 0 attention", "final LN/head"}, Dot: make([][]float64, 3), WW: make([][]float64, 3), LL: make([][]float64, 3)}
		var rf = RunFirstOrder{Name: name}
		for s := 0; s < steps; s++ {
			fs := float64(s)
			x = append(x, fs)
			tr.X, tr.Chosen, tr.Rejected = append(tr.X, fs), append(tr.Chosen, -20+0.1*fs*float64(1-2*r)), append(tr.Rejected, -20-0.3*fs)
			if s%5 == 0 {
				ho.X, ho.Chosen, ho.Rejected = append(ho.X, fs), append(ho.Chosen, -21+0.1*fs), append(ho.Rejected, -21-0.2*fs)
			}
			var cs, ds []float64
			var cc []entangle.Case
			for p := 0; p < 16; p++ {
				ww, ll := math.Exp(rng.NormFloat64()), math.Exp(rng.NormFloat64())
				c := math.Tanh(rng.NormFloat64() + 0.5*float64(2*r-1))
				st := entangle.Pair(c*math.Sqrt(ww*ll), ww, ll, 0.05, 0.05)
				cs, ds, cc = append(cs, st.Cos), append(ds, st.Dot), append(cc, st.LossCase)
				pd.X, pd.Y, pd.Case = append(pd.X, st.ChosenRatio), append(pd.Y, st.RejectedRatio), append(pd.Case, st.LossCase)
			}
			cosS, dotS = append(cosS, cs), append(dotS, ds)
			rc.X, rc.Frac = append(rc.X, fs), append(rc.Frac, CaseFractions(cc))
			sh := Shares([]float64{1 + rng.Float64(), 2, 1}, []int{0, 1, 2}, 3)
			for b := range sh {
				rg.Dot[b] = append(rg.Dot[b], sh[b])
				rg.WW[b] = append(rg.WW[b], sh[b])
				rg.LL[b] = append(rg.LL[b], sh[b])
			}
			rg.X = append(rg.X, fs)
			if s%10 == 0 {
				for p := 0; p < 4; p++ {
					pw, pl := 1e-3*rng.NormFloat64(), 1e-3*rng.NormFloat64()
					rf.PredW, rf.ObsW = append(rf.PredW, pw), append(rf.ObsW, pw*(1+0.1*rng.NormFloat64()))
					rf.PredL, rf.ObsL = append(rf.PredL, pl), append(rf.ObsL, pl*(1+0.1*rng.NormFloat64()))
				}
			}
		}
		dyn = append(dyn, RunDynamics{Name: name, Train: tr, HeldOut: ho, HeldOutSource: "eval rows"})
		ent = append(ent, RunEntangle{Name: name, Cos: QuantileBand("cos", x, cosS), Dot: QuantileBand("dot", x, dotS)})
		plane, cases, groups, fo = append(plane, pd), append(cases, rc), append(groups, rg), append(fo, rf)
	}
	tm := TokenMap{Title: "step 10, pair 3", Chosen: []string{" positive", " day", "<eos>"}, Rejected: []string{" negative", " day", "<eos>"},
		ChosenContrast: []bool{true, false, false}, RejectedContrast: []bool{true, false, false},
		Cos: []float64{-0.8, 0.1, 0.05, 0.2, 0.99, 0.3, math.NaN(), 0.4, 1}}
	return map[string]*Figure{
		"dynamics": Dynamics(dyn), "entanglement": Entanglement(ent), "plane": ConditionPlane(plane),
		"cases": CaseFractionsFigure(cases, "predicted"), "groups": GroupShares(groups), "heatmap": TokenHeatmap(tm), "firstorder": FirstOrder(fo),
	}
}

// TestRenderEveryFigure renders each figure kind in every format: PNG
// decodes at the figure's size (96 dpi), SVG carries the raster fix when it
// embeds an image, PDF starts with its magic. With PLOTTING_OUT=dir the files
// are kept for a look.
func TestRenderEveryFigure(t *testing.T) {
	keep := os.Getenv("PLOTTING_OUT")
	for name, f := range figures(t) {
		for _, format := range Formats {
			var buf bytes.Buffer
			if err := f.Render(&buf, format); err != nil {
				t.Fatalf("%s.%s: %v", name, format, err)
			}
			b := buf.Bytes()
			switch format {
			case "png":
				img, err := png.Decode(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("%s.png: %v", name, err)
				}
				w, h := img.Bounds().Dx(), img.Bounds().Dy()
				if ww, hh := int(math.Round(float64(f.Width/vg.Inch)*96)), int(math.Round(float64(f.Height/vg.Inch)*96)); abs(w-ww) > 1 || abs(h-hh) > 1 {
					t.Errorf("%s.png is %dx%d, want %dx%d", name, w, h, ww, hh)
				}
			case "svg":
				s := string(b)
				if strings.Contains(s, "data:image/jpg") || (strings.Contains(s, "<image") && !strings.Contains(s, `<image preserveAspectRatio="none"`)) {
					t.Errorf("%s.svg lacks the raster fix", name)
				}
			case "pdf":
				if !bytes.HasPrefix(b, []byte("%PDF")) {
					t.Errorf("%s.pdf is not a PDF", name)
				}
			}
			if keep != "" {
				os.WriteFile(filepath.Join(keep, name+"."+format), b, 0o644)
			}
		}
	}
}

func abs(x int) int { return max(x, -x) }

func TestFormatOf(t *testing.T) {
	for in, want := range map[string]string{"a.png": "png", "b/c.SVG": "svg", "x.pdf": "pdf"} {
		if got, err := FormatOf(in); err != nil || got != want {
			t.Errorf("FormatOf(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"a.jpg", "noext", "a.png.gz"} {
		if _, err := FormatOf(in); err == nil {
			t.Errorf("FormatOf(%q) accepted", in)
		}
	}
}

func TestBlueWhiteRed(t *testing.T) {
	m := NewBlueWhiteRed(-1, 1)
	for v, want := range map[float64]color.NRGBA{-1: divergingLow, 0: {255, 255, 255, 255}, 1: divergingHigh} {
		c, err := m.At(v)
		if err != nil || c != want {
			t.Errorf("At(%v) = %v, %v; want %v", v, c, err, want)
		}
	}
	// Half-way to red: each channel half-way from white (255) to the red end.
	c, _ := m.At(0.5)
	if c != (color.NRGBA{R: uint8(math.Round((255 + 178) / 2.0)), G: uint8(math.Round((255 + 24) / 2.0)), B: uint8(math.Round((255 + 43) / 2.0)), A: 255}) {
		t.Errorf("At(0.5) = %v", c)
	}
	for _, v := range []float64{-1.01, 1.01, math.NaN()} {
		if _, err := m.At(v); err == nil {
			t.Errorf("At(%v) gave no error", v)
		}
	}
	if _, err := m.At(2); err != palette.ErrOverflow {
		t.Errorf("overflow error %v", err)
	}
	if p := m.Palette(3).Colors(); p[1] != (color.NRGBA{255, 255, 255, 255}) {
		t.Errorf("palette centre %v, want white", p[1])
	}
}

func TestScatterRasterizes(t *testing.T) {
	n := RasterAbove + 1
	x, y := make([]float64, n), make([]float64, n)
	cs := make([]color.Color, n)
	for i := range x {
		x[i], y[i], cs[i] = float64(i%100), float64(i/100), color.Black
	}
	if !NewScatter(x, y, cs, 2).Rasterize || NewScatter(x[:RasterAbove], y[:RasterAbove], cs[:RasterAbove], 2).Rasterize {
		t.Fatal("rasterization threshold not applied at RasterAbove")
	}
	plane := ConditionPlane([]PlaneData{{Name: "dense", X: x, Y: y, Case: make([]entangle.Case, n)}})
	for _, format := range []string{"png", "pdf"} {
		if err := plane.Render(new(bytes.Buffer), format); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
	}
	var buf bytes.Buffer
	if err := plane.Render(&buf, "svg"); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if strings.Count(s, "<image") != 1 {
		t.Errorf("dense scatter: %d images in the SVG, want 1", strings.Count(s, "<image"))
	}
}

func TestDiscComposites(t *testing.T) {
	img := imageRGBA(5, 5)
	half := color.NRGBA{R: 255, A: 128}
	disc(img, 2.5, 2.5, 1, half)
	disc(img, 2.5, 2.5, 1, half)
	// Two layers of alpha 128/255 over transparent: alpha = a + a(1 − a).
	a := 128.0 / 255
	want := a + a*(1-a)
	got := float64(img.RGBAAt(2, 2).A) / 255
	if math.Abs(got-want) > 2.0/255 {
		t.Errorf("alpha %v, want %v", got, want)
	}
	if img.RGBAAt(0, 0).A != 0 {
		t.Error("pixel outside the disc painted")
	}
}

// TestCellImage checks the heatmap's data layout: chosen token i is pixel
// row band i (top down), rejected token j column band j, each cell the map's
// colour of its cosine (white at 0), NaN grey.
func TestCellImage(t *testing.T) {
	m := TokenMap{Chosen: []string{"a", "b"}, Rejected: []string{"x", "y", "z"}, Cos: []float64{-1, 0, 1, 0.5, math.NaN(), -0.25}}
	cm := NewBlueWhiteRed(-1, 1)
	img := m.CellImage(cm)
	k := cellPixels(3)
	if img.Bounds().Dx() != 3*k || img.Bounds().Dy() != 2*k {
		t.Fatalf("image %v, want %dx%d", img.Bounds(), 3*k, 2*k)
	}
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			v := m.Cos[i*3+j]
			want := nanColor
			if !math.IsNaN(v) {
				c, _ := cm.At(v)
				want = c.(color.NRGBA)
			}
			for _, p := range [][2]int{{j * k, i * k}, {j*k + k - 1, i*k + k - 1}} {
				if got := img.NRGBAAt(p[0], p[1]); got != want {
					t.Errorf("cell (%d,%d) pixel %v = %v, want %v", i, j, p, got, want)
				}
			}
		}
	}
	if got := img.NRGBAAt(k, 0); got != (color.NRGBA{255, 255, 255, 255}) {
		t.Errorf("cos 0 is %v, want white", got)
	}
}

// TestLinesAreThinned checks that a figure's lines hold at most
// MaxLinePoints points however long the run.
func TestLinesAreThinned(t *testing.T) {
	n := 100000
	x, y := make([]float64, n), make([]float64, n)
	for i := range x {
		x[i], y[i] = float64(i), math.Sin(float64(i)/1000)
	}
	l := line(x, y, runStyle(0, 1))
	if len(l.XYs) > MaxLinePoints || l.XYs[0].X != 0 || l.XYs[len(l.XYs)-1].X != float64(n-1) {
		t.Errorf("%d points, ends %v %v", len(l.XYs), l.XYs[0], l.XYs[len(l.XYs)-1])
	}
	if line([]float64{math.NaN()}, []float64{1}, runStyle(0, 1)) != nil {
		t.Error("a line without finite points is not nil")
	}
	f := Dynamics([]RunDynamics{{Name: "long", Train: Curves{X: x, Chosen: y, Rejected: y}}})
	if err := f.Render(new(bytes.Buffer), "png"); err != nil {
		t.Fatal(err)
	}
}
