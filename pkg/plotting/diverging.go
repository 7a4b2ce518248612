package plotting

import (
	"image/color"
	"math"

	"gonum.org/v1/plot/palette"
)

// Ends and centre of the diverging scale of the token heatmap (paper §5.2,
// Figure 4b: blue = −1, white = 0, red = +1); the ends are ColorBrewer
// RdBu's outermost blue and red.
var (
	divergingLow  = color.NRGBA{R: 33, G: 102, B: 172, A: 255}
	divergingMid  = color.NRGBA{R: 255, G: 255, B: 255, A: 255}
	divergingHigh = color.NRGBA{R: 178, G: 24, B: 43, A: 255}
)

// BlueWhiteRed is a palette.ColorMap from blue at Min through white at the
// midpoint to red at Max, linear in sRGB on each half. The zero value is
// unusable; use NewBlueWhiteRed.
type BlueWhiteRed struct {
	min, max, alpha float64
}

// NewBlueWhiteRed returns the map on [min, max] (the heatmap uses [−1, 1], so
// white is exactly 0).
func NewBlueWhiteRed(min, max float64) *BlueWhiteRed {
	return &BlueWhiteRed{min: min, max: max, alpha: 1}
}

var _ palette.ColorMap = (*BlueWhiteRed)(nil)

// At returns the colour of v; values outside [Min, Max] give an error
// (palette.ErrUnderflow, ErrOverflow), NaN gives palette.ErrNaN.
func (m *BlueWhiteRed) At(v float64) (color.Color, error) {
	switch {
	case math.IsNaN(v):
		return nil, palette.ErrNaN
	case v < m.min:
		return nil, palette.ErrUnderflow
	case v > m.max:
		return nil, palette.ErrOverflow
	}
	t := (v - m.min) / (m.max - m.min) // 0..1
	var a, b color.NRGBA
	var f float64
	if t <= 0.5 {
		a, b, f = divergingLow, divergingMid, t/0.5
	} else {
		a, b, f = divergingMid, divergingHigh, (t-0.5)/0.5
	}
	lerp := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + f*(float64(y)-float64(x)))) }
	return color.NRGBA{R: lerp(a.R, b.R), G: lerp(a.G, b.G), B: lerp(a.B, b.B), A: uint8(math.Round(255 * m.alpha))}, nil
}

// Min returns the lower end of the map.
func (m *BlueWhiteRed) Min() float64 { return m.min }

// Max returns the upper end of the map.
func (m *BlueWhiteRed) Max() float64 { return m.max }

// SetMin sets the lower end.
func (m *BlueWhiteRed) SetMin(v float64) { m.min = v }

// SetMax sets the upper end.
func (m *BlueWhiteRed) SetMax(v float64) { m.max = v }

// Alpha returns the opacity in [0, 1].
func (m *BlueWhiteRed) Alpha() float64 { return m.alpha }

// SetAlpha sets the opacity in [0, 1].
func (m *BlueWhiteRed) SetAlpha(a float64) { m.alpha = a }

// Palette returns n ≥ 2 colours evenly spaced from Min to Max.
func (m *BlueWhiteRed) Palette(n int) palette.Palette {
	cs := make([]color.Color, n)
	for i := range cs {
		v := m.min + (m.max-m.min)*float64(i)/float64(n-1)
		c, _ := m.At(math.Min(m.max, v))
		cs[i] = c
	}
	return plainPalette(cs)
}

type plainPalette []color.Color

// Colors implements palette.Palette.
func (p plainPalette) Colors() []color.Color { return p }
