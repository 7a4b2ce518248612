package plotting

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Figure is a grid of panels drawn on one canvas under a common title.
// Panels is row-major; a nil panel leaves its cell empty. ColWidths gives
// the relative widths of the columns (nil: equal).
type Figure struct {
	Title         string
	Panels        [][]*plot.Plot
	ColWidths     []float64
	Width, Height vg.Length
}

// Formats lists the output formats Render accepts, by file extension.
var Formats = []string{"png", "svg", "pdf"}

// FormatOf returns the output format of path from its extension ("png",
// "svg" or "pdf"), or an error naming the accepted ones.
func FormatOf(path string) (string, error) {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	for _, f := range Formats {
		if ext == f {
			return f, nil
		}
	}
	if ext == "" {
		return "", fmt.Errorf("output %q has no extension: use .png, .svg or .pdf", path)
	}
	return "", fmt.Errorf("unknown output extension %q in %q: use .png, .svg or .pdf", "."+ext, path)
}

// Render draws f and writes it to w in format ("png", "svg" or "pdf").
func (f *Figure) Render(w io.Writer, format string) error {
	if f.Width <= 0 || f.Height <= 0 {
		panic("plotting: figure without a size")
	}
	c, err := draw.NewFormattedCanvas(f.Width, f.Height, format)
	if err != nil {
		return fmt.Errorf("plotting: %w", err)
	}
	f.Draw(draw.New(c))
	if format != "svg" {
		_, err = c.WriteTo(w)
		return err
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return err
	}
	_, err = w.Write(FixSVG(buf.Bytes()))
	return err
}

// FixSVG repairs gonum's SVG output for standards renderers (librsvg,
// browsers): embedded images are PNG but labelled image/jpg, and without
// preserveAspectRatio="none" a raster image is letterboxed into a square.
func FixSVG(svg []byte) []byte {
	svg = bytes.ReplaceAll(svg, []byte("data:image/jpg;"), []byte("data:image/png;"))
	return bytes.ReplaceAll(svg, []byte("<image "), []byte(`<image preserveAspectRatio="none" `))
}

// Draw draws the title and the panels on c.
func (f *Figure) Draw(c draw.Canvas) {
	c.SetColor(color.White)
	c.Fill(c.Rectangle.Path())
	if f.Title != "" {
		sty := textStyle(14)
		sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
		pt := vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - vg.Points(6)}
		c.FillText(sty, pt, f.Title)
		c.Max.Y -= sty.Height(f.Title) + vg.Points(12)
	}
	rows := len(f.Panels)
	if rows == 0 {
		return
	}
	cols := 0
	for _, r := range f.Panels {
		cols = max(cols, len(r))
	}
	widths := f.ColWidths
	if len(widths) != cols {
		widths = make([]float64, cols)
		for i := range widths {
			widths[i] = 1
		}
	}
	total := 0.0
	for _, w := range widths {
		total += w
	}
	pad := vg.Points(8)
	W := c.Max.X - c.Min.X - pad*vg.Length(cols+1)
	H := (c.Max.Y - c.Min.Y - pad*vg.Length(rows+1)) / vg.Length(rows)
	for r, row := range f.Panels {
		x := c.Min.X + pad
		top := c.Max.Y - pad - vg.Length(r)*(H+pad)
		for col := 0; col < cols; col++ {
			cw := W * vg.Length(widths[col]/total)
			if col < len(row) && row[col] != nil {
				sub := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
					Min: vg.Point{X: x, Y: top - H}, Max: vg.Point{X: x + cw, Y: top}}}
				row[col].Draw(sub)
			}
			x += cw + pad
		}
	}
}

// textStyle returns the default text style at size points.
func textStyle(size vg.Length) text.Style {
	return text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, size), Handler: plot.DefaultTextHandler}
}

// newPanel returns a plot with a title, axis labels and a grid.
func newPanel(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 12
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.X.Label.TextStyle.Font.Size = 11
	p.Y.Label.TextStyle.Font.Size = 11
	return p
}

// LegendEntry is one line of a legend panel.
type LegendEntry struct {
	Name  string
	Thumb plot.Thumbnailer
}

// legendPanel returns a panel that shows only a legend, top-left aligned: it
// sits beside the data panels so that ten runs never cover the data.
func legendPanel(title string, entries []LegendEntry) *plot.Plot {
	p := plot.New()
	p.HideAxes()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 11
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Font.Size = 10
	p.Legend.ThumbnailWidth = vg.Points(22)
	for _, e := range entries {
		p.Legend.Add(e.Name, e.Thumb)
	}
	return p
}

// Colors is the categorical palette for runs and groups (Okabe–Ito plus
// darker tones): distinguishable for the common colour-vision deficiencies
// for the first eight.
var Colors = []color.RGBA{
	{0, 114, 178, 255},   // blue
	{213, 94, 0, 255},    // vermillion
	{0, 158, 115, 255},   // bluish green
	{204, 121, 167, 255}, // reddish purple
	{230, 159, 0, 255},   // orange
	{86, 180, 233, 255},  // sky blue
	{0, 0, 0, 255},       // black
	{240, 228, 66, 255},  // yellow
	{120, 60, 20, 255},   // brown
	{100, 100, 100, 255}, // grey
	{60, 0, 120, 255},    // dark violet
	{0, 90, 50, 255},     // dark green
}

// RunColor returns the colour of the i-th series; after len(Colors) the
// palette repeats (callers vary the dashes with RunDashes).
func RunColor(i int) color.RGBA { return Colors[i%len(Colors)] }

// RunDashes returns the dash pattern of the i-th series: solid for the first
// len(Colors), then dashed, so that colours that repeat stay distinct.
func RunDashes(i int) []vg.Length {
	if (i/len(Colors))%2 == 1 {
		return []vg.Length{vg.Points(5), vg.Points(2)}
	}
	return nil
}

// withAlpha returns c with alpha a (not premultiplied: color.NRGBA).
func withAlpha(c color.RGBA, a uint8) color.NRGBA {
	return color.NRGBA{R: c.R, G: c.G, B: c.B, A: a}
}

// lineThumb is a legend thumbnail: a line in a colour and dash pattern.
type lineThumb struct{ sty draw.LineStyle }

// Thumbnail implements plot.Thumbnailer.
func (t lineThumb) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(t.sty, c.Min.X, y, c.Max.X, y)
}

// dotThumb is a legend thumbnail: a filled disc.
type dotThumb struct{ col color.Color }

// Thumbnail implements plot.Thumbnailer.
func (t dotThumb) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(draw.GlyphStyle{Color: t.col, Radius: vg.Points(3.5), Shape: draw.CircleGlyph{}}, c.Center())
}

// boxThumb is a legend thumbnail: a filled rectangle.
type boxThumb struct{ col color.Color }

// Thumbnail implements plot.Thumbnailer.
func (t boxThumb) Thumbnail(c *draw.Canvas) {
	c.SetColor(t.col)
	c.Fill(c.Rectangle.Path())
}
