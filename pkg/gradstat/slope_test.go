package gradstat

import (
	"math"
	"testing"
)

// TestSlopes: by hand. Group a has x = 1, 2, 4 with Y = 3, 12, 48 (Y = 3x²:
// slope 2 exactly) and Z = −1, −2, 0 (|Z| ∝ x on the two nonzero rows:
// slope 1; the zero is left out); group b has one x (0.5, twice) so its
// slopes are null; a row with x "bad" is left out of the fit but counted in
// runs. With u = ln x: for Y, u = (0, ln2, 2ln2), w = ln3 + 2u ⇒ slope 2.
func TestSlopes(t *testing.T) {
	b := NewBatch([]Column{{"g", String, ""}, {"lr", String, ""}, {"y", Float, ""}, {"z", Int, ""}})
	for _, r := range []struct {
		g, lr string
		y     float64
		z     int64
	}{{"a", "1", 3, -1}, {"a", "2", 12, -2}, {"b", "0.5", 7, 1}, {"a", "4", 48, 0}, {"b", "0.5", 9, 2}, {"a", "bad", 1, 1}} {
		b.Row()
		b.Str("g", r.g)
		b.Str("lr", r.lr)
		b.Float("y", r.y)
		b.Int("z", r.z)
		b.End()
	}
	s, err := Slopes(b, []string{"g"}, "lr")
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 2 {
		t.Fatalf("%d rows, want 2", s.N)
	}
	col := func(name string) int {
		for c, k := range s.Cols {
			if k.Name == name {
				return c
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	if s.Ints[col("runs")][0] != 4 || s.Ints[col("x_n")][0] != 4 || s.Ints[col("x_n")][1] != 1 {
		t.Errorf("runs %v x_n %v", s.Ints[col("runs")], s.Ints[col("x_n")])
	}
	if got := s.Fls[col("y_slope")][0]; math.Abs(got-2) > 1e-12 {
		t.Errorf("y slope %v, want 2", got)
	}
	if got := s.Fls[col("z_slope")][0]; math.Abs(got-1) > 1e-12 {
		t.Errorf("z slope %v, want 1", got)
	}
	if s.Valid[col("y_slope")][1] {
		t.Errorf("group b has one x: slope %v, want null", s.Fls[col("y_slope")][1])
	}
	if _, err := Slopes(b, []string{"g"}, "y"); err == nil {
		t.Error("a numeric x column was accepted")
	}
}
