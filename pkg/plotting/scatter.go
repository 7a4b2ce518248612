package plotting

import (
	"image"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// RasterAbove is the number of points above which a scatter layer is drawn
// as one raster image: 5,000 vector discs make a multi-megabyte SVG or PDF
// that viewers draw slowly, an image of the data area does not.
const RasterAbove = 2000

// rasterDPI is the resolution of a rasterized scatter layer.
const rasterDPI = 150

// Scatter is a plot.Plotter of points with one colour each, drawn as discs,
// or as one image when Rasterize is set. NaN points are skipped.
type Scatter struct {
	X, Y      []float64
	Colors    []color.Color // one per point
	Radius    vg.Length
	Rasterize bool
}

// NewScatter returns a scatter of the points, rasterized when there are more
// than RasterAbove. It panics if the lengths differ.
func NewScatter(x, y []float64, colors []color.Color, radius vg.Length) *Scatter {
	if len(x) != len(y) || len(x) != len(colors) {
		panic("plotting: NewScatter: lengths differ")
	}
	return &Scatter{X: x, Y: y, Colors: colors, Radius: radius, Rasterize: len(x) > RasterAbove}
}

// DataRange implements plot.DataRanger over the finite points.
func (s *Scatter) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for i := range s.X {
		if !finite(s.X[i]) || !finite(s.Y[i]) {
			continue
		}
		xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
		ymin, ymax = math.Min(ymin, s.Y[i]), math.Max(ymax, s.Y[i])
	}
	if math.IsInf(xmin, 1) {
		return 0, 1, 0, 1
	}
	return
}

// Plot implements plot.Plotter.
func (s *Scatter) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	if !s.Rasterize {
		for i := range s.X {
			if !finite(s.X[i]) || !finite(s.Y[i]) {
				continue
			}
			pt := vg.Point{X: trX(s.X[i]), Y: trY(s.Y[i])}
			if !c.Contains(pt) {
				continue
			}
			c.DrawGlyph(draw.GlyphStyle{Color: s.Colors[i], Radius: s.Radius, Shape: draw.CircleGlyph{}}, pt)
		}
		return
	}
	scale := float64(rasterDPI) / float64(vg.Inch)
	w := int(math.Ceil(float64(c.Max.X-c.Min.X) * scale))
	h := int(math.Ceil(float64(c.Max.Y-c.Min.Y) * scale))
	if w <= 0 || h <= 0 {
		return
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := float64(s.Radius) * scale
	for i := range s.X {
		if !finite(s.X[i]) || !finite(s.Y[i]) {
			continue
		}
		pt := vg.Point{X: trX(s.X[i]), Y: trY(s.Y[i])}
		if !c.Contains(pt) {
			continue
		}
		disc(img, float64(pt.X-c.Min.X)*scale, float64(c.Max.Y-pt.Y)*scale, r, s.Colors[i])
	}
	c.DrawImage(c.Rectangle, img)
}

// disc composites a filled disc of radius r centred at (cx, cy) (pixels,
// y down) over img with the "over" operator.
func disc(img *image.RGBA, cx, cy, r float64, col color.Color) {
	sr, sg, sb, sa := col.RGBA() // premultiplied, 16 bit
	b := img.Bounds()
	x0, x1 := max(b.Min.X, int(math.Floor(cx-r))), min(b.Max.X-1, int(math.Ceil(cx+r)))
	y0, y1 := max(b.Min.Y, int(math.Floor(cy-r))), min(b.Max.Y-1, int(math.Ceil(cy+r)))
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			if dx*dx+dy*dy > r*r {
				continue
			}
			o := img.PixOffset(x, y)
			p := img.Pix[o : o+4 : o+4]
			inv := 0xffff - sa
			p[0] = uint8((sr + uint32(p[0])*0x101*inv/0xffff) >> 8)
			p[1] = uint8((sg + uint32(p[1])*0x101*inv/0xffff) >> 8)
			p[2] = uint8((sb + uint32(p[2])*0x101*inv/0xffff) >> 8)
			p[3] = uint8((sa + uint32(p[3])*0x101*inv/0xffff) >> 8)
		}
	}
}
