package plotting

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// TokenMap is the data of one token heatmap: Cos (len(Chosen) ×
// len(Rejected), row-major) holds cos(g^w_i, g^l_j) between the per-token
// gradients of chosen token i and rejected token j (entangle.CosineMatrix);
// NaN entries (zero-norm token gradients) are drawn grey.
type TokenMap struct {
	Title                            string
	Chosen, Rejected                 []string // token strings, in response order
	ChosenContrast, RejectedContrast []bool   // contrastive tokens (nil: none marked)
	Cos                              []float64
}

// nanColor is the colour of undefined (NaN) cosines.
var nanColor = color.NRGBA{R: 170, G: 170, B: 170, A: 255}

// cells draws the cosine matrix as one image with k×k pixels per cell, so
// that the backend's image scaling blurs only the cell borders (gonum's
// rasterized HeatMap is scaled from one pixel per cell and comes out
// smoothed; its vector form shows seams). Chosen token 0 is the top row.
type cells struct {
	m  *TokenMap
	cm *BlueWhiteRed
}

// cellPixels returns the pixels per cell side for an n-cell side: at most 16
// and at most 4096 pixels in all.
func cellPixels(n int) int { return max(1, min(16, 4096/max(1, n))) }

// CellImage returns the image of the matrix, k×k pixels per cell, chosen
// tokens as rows (top to bottom), rejected as columns.
func (m *TokenMap) CellImage(cm *BlueWhiteRed) *image.NRGBA {
	nW, nL := len(m.Chosen), len(m.Rejected)
	k := cellPixels(max(nW, nL))
	img := image.NewNRGBA(image.Rect(0, 0, nL*k, nW*k))
	for i := 0; i < nW; i++ {
		for j := 0; j < nL; j++ {
			v := m.Cos[i*nL+j]
			var col color.NRGBA
			if math.IsNaN(v) {
				col = nanColor
			} else {
				c, _ := cm.At(math.Max(cm.Min(), math.Min(cm.Max(), v)))
				col = c.(color.NRGBA)
			}
			for y := i * k; y < (i+1)*k; y++ {
				for x := j * k; x < (j+1)*k; x++ {
					img.SetNRGBA(x, y, col)
				}
			}
		}
	}
	return img
}

// Plot implements plot.Plotter.
func (h *cells) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	nW, nL := len(h.m.Chosen), len(h.m.Rejected)
	rect := vg.Rectangle{
		Min: vg.Point{X: trX(-0.5), Y: trY(-0.5)},
		Max: vg.Point{X: trX(float64(nL) - 0.5), Y: trY(float64(nW) - 0.5)},
	}
	c.DrawImage(rect, h.m.CellImage(h.cm))
}

// TokenLabel returns the axis label of a token: quoted, with a leading "*"
// when it is contrastive (the heatmap's legend explains the mark).
func TokenLabel(tok string, contrastive bool) string {
	s := fmt.Sprintf("%q", tok)
	if len(s) > 18 {
		s = s[:15] + "…\""
	}
	if contrastive {
		return "* " + s
	}
	return s
}

// TokenHeatmap draws figure 6 (paper Figure 4b) for one matrix; see
// TokenHeatmaps.
func TokenHeatmap(m TokenMap) *Figure { return TokenHeatmaps([]TokenMap{m}) }

// TokenHeatmaps draws figure 6 (paper Figure 4b): for each map a panel of
// the chosen × rejected cosine matrix on a blue–white–red scale fixed to
// [−1, 1], token strings on the axes (chosen down the left, rejected along
// the bottom), contrastive tokens marked "*" with their rows and columns
// outlined; two panels to a row, one colour bar. It panics if a map's Cos is
// not len(Chosen)·len(Rejected) or either is empty.
func TokenHeatmaps(maps []TokenMap) *Figure {
	cm := NewBlueWhiteRed(-1, 1)
	var panels []*plot.Plot
	n := 1
	for i := range maps {
		panels = append(panels, heatmapPanel(&maps[i], cm))
		n = max(n, len(maps[i].Chosen), len(maps[i].Rejected))
	}
	cols := min(2, len(maps))
	rows, _ := grid(panels, cols, nil)
	cb := plot.New()
	cb.Title.Text = "cos(g_w,i, g_l,j)"
	cb.Title.TextStyle.Font.Size = 10
	cb.HideX()
	cb.Y.Label.Text = "cosine (dimensionless, −1 … 1)"
	cb.Y.Min, cb.Y.Max = -1, 1
	cb.Add(&plotter.ColorBar{ColorMap: cm, Vertical: true, Colors: 255})
	leg := legendPanel("", []LegendEntry{
		{"* contrastive (outlined)", lineThumb{draw.LineStyle{Color: color.Black, Width: vg.Points(1.2)}}},
		{"undefined (zero grad.)", boxThumb{nanColor}},
	})
	if len(rows) == 0 {
		rows = [][]*plot.Plot{nil}
	}
	for len(rows[0]) < cols {
		rows[0] = append(rows[0], nil)
	}
	rows[0] = append(rows[0], cb, leg)
	widths := make([]float64, cols, cols+2)
	for i := range widths {
		widths[i] = 1
	}
	widths = append(widths, 0.2, 0.42)
	side := vg.Length(n)*vg.Points(16) + 2.5*vg.Inch
	side = max(6*vg.Inch, min(side, 14*vg.Inch))
	f := &Figure{Title: "Per-token gradient cosines, chosen × rejected", Panels: rows, ColWidths: widths}
	f.Width, f.Height = side*vg.Length(float64(cols)+0.62), side*1.12*vg.Length(len(rows))
	return f
}

// heatmapPanel returns the panel of one cosine matrix.
func heatmapPanel(m *TokenMap, cm *BlueWhiteRed) *plot.Plot {
	nW, nL := len(m.Chosen), len(m.Rejected)
	if nW == 0 || nL == 0 || len(m.Cos) != nW*nL {
		panic("plotting: TokenHeatmap: Cos is not len(Chosen) × len(Rejected)")
	}
	p := newPanel(m.Title, "rejected response token (position order)", "chosen response token (position order)")
	p.Add(&cells{m: m, cm: cm})
	p.X.Min, p.X.Max = -0.5, float64(nL)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(nW)-0.5
	xl := make([]string, nL)
	for j, t := range m.Rejected {
		xl[j] = TokenLabel(t, at01(m.RejectedContrast, j))
	}
	yl := make([]string, nW)
	for i, t := range m.Chosen {
		yl[nW-1-i] = TokenLabel(t, at01(m.ChosenContrast, i))
	}
	p.X.Tick.Marker = labelTicks(xl)
	p.Y.Tick.Marker = labelTicks(yl)
	p.X.Tick.Label.Rotation = math.Pi / 2
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	p.X.Tick.Label.Font.Size = tickFont(nL)
	p.Y.Tick.Label.Font.Size = tickFont(nW)
	p.Add(&outline{m: m})
	return p
}

func at01(v []bool, i int) bool { return i < len(v) && v[i] }

// tickFont shrinks tick labels for long responses.
func tickFont(n int) vg.Length {
	switch {
	case n > 60:
		return 6
	case n > 30:
		return 8
	}
	return 10
}

// labelTicks returns a ticker labelling the integers 0..len(labels)−1.
func labelTicks(labels []string) plot.Ticker {
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		ts := make([]plot.Tick, len(labels))
		for i, l := range labels {
			ts[i] = plot.Tick{Value: float64(i), Label: l}
		}
		return ts
	})
}

// outline strokes the rows and columns of contrastive tokens.
type outline struct{ m *TokenMap }

// Plot implements plot.Plotter.
func (o *outline) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	nW, nL := len(o.m.Chosen), len(o.m.Rejected)
	sty := draw.LineStyle{Color: color.Black, Width: vg.Points(1.2)}
	box := func(x0, x1, y0, y1 float64) {
		c.StrokeLines(sty, []vg.Point{
			{X: trX(x0), Y: trY(y0)}, {X: trX(x1), Y: trY(y0)}, {X: trX(x1), Y: trY(y1)},
			{X: trX(x0), Y: trY(y1)}, {X: trX(x0), Y: trY(y0)}})
	}
	for i := 0; i < nW; i++ {
		if at01(o.m.ChosenContrast, i) {
			r := float64(nW - 1 - i)
			box(-0.5, float64(nL)-0.5, r-0.5, r+0.5)
		}
	}
	for j := 0; j < nL; j++ {
		if at01(o.m.RejectedContrast, j) {
			box(float64(j)-0.5, float64(j)+0.5, -0.5, float64(nW)-0.5)
		}
	}
}
