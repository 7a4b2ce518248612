package gradstat

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Slopes groups the rows of b by the string columns named by keys (as
// Aggregate) and returns one row per group: the key columns, "runs", "x_n"
// (the distinct values of x in the group) and, for every Int or Float column
// Y of b not among the keys, Y_slope: the least-squares slope of log|Y|
// against log x over the group's rows,
//
//	slope = Σ(u−ū)(w−w̄) / Σ(u−ū)²,   u = ln x,  w = ln|Y|,
//
// the exponent k of |Y| ∝ x^k (2 for a residual that is second order in a
// step size x). x names a string column whose values are numbers (a sweep
// label such as lr). Rows where x is not a positive number or Y is null or
// zero are left out; the slope is null with fewer than two distinct x.
// Sums run in row order.
func Slopes(b *Batch, keys []string, x string) (*Batch, error) {
	xc := -1
	for c, col := range b.Cols {
		if col.Name == x && col.Type == String {
			xc = c
		}
	}
	if xc < 0 {
		return nil, fmt.Errorf("-slope %s: no such string column (%s)", x, strings.Join(stringCols(b), ", "))
	}
	idx := make([]int, len(keys))
	out := []Column{}
	for i, k := range keys {
		idx[i] = -1
		for c, col := range b.Cols {
			if col.Name == k && col.Type == String {
				idx[i] = c
			}
		}
		if idx[i] < 0 {
			return nil, fmt.Errorf("-by %s: no such string column (%s)", k, strings.Join(stringCols(b), ", "))
		}
		out = append(out, b.Cols[idx[i]])
	}
	out = append(out, Column{"runs", Int, "rows (runs) in the group"},
		Column{"x_n", Int, "distinct values of " + x + " in the group"})
	var num []int
	for c, col := range b.Cols {
		skip := c == xc
		for _, i := range idx {
			skip = skip || i == c
		}
		if skip || (col.Type != Int && col.Type != Float) {
			continue
		}
		num = append(num, c)
		out = append(out, Column{col.Name + "_slope", Float, "slope of ln|" + col.Name + "| against ln " + x})
	}
	var order []string
	members := map[string][]int{}
	for r := 0; r < b.N; r++ {
		parts := make([]string, len(idx))
		for i, c := range idx {
			if b.Valid[c][r] {
				parts[i] = b.Strs[c][r]
			}
		}
		k := strings.Join(parts, "\x00")
		if _, ok := members[k]; !ok {
			order = append(order, k)
		}
		members[k] = append(members[k], r)
	}
	a := NewBatch(out)
	for _, k := range order {
		rows := members[k]
		a.Row()
		for o, c := range idx {
			a.SetStr(o, b.Strs[c][rows[0]])
		}
		a.Int("runs", int64(len(rows)))
		xs := map[string]bool{}
		for _, r := range rows {
			if b.Valid[xc][r] {
				xs[b.Strs[xc][r]] = true
			}
		}
		a.Int("x_n", int64(len(xs)))
		for j, c := range num {
			var u, w []float64
			for _, r := range rows {
				xv, err := strconv.ParseFloat(b.Strs[xc][r], 64)
				if !b.Valid[xc][r] || err != nil || !(xv > 0) || !b.Valid[c][r] {
					continue
				}
				var y float64
				if b.Cols[c].Type == Int {
					y = float64(b.Ints[c][r])
				} else {
					y = b.Fls[c][r]
				}
				if y == 0 || math.IsNaN(y) || math.IsInf(y, 0) {
					continue
				}
				u, w = append(u, math.Log(xv)), append(w, math.Log(math.Abs(y)))
			}
			a.SetFloat(len(idx)+2+j, slope(u, w))
		}
		a.End()
	}
	return a, nil
}

// slope returns the least-squares slope of w on u (NaN if u has no spread).
func slope(u, w []float64) float64 {
	if len(u) < 2 {
		return math.NaN()
	}
	var mu, mw float64
	for i := range u {
		mu += u[i]
		mw += w[i]
	}
	mu /= float64(len(u))
	mw /= float64(len(u))
	var sxy, sxx float64
	for i := range u {
		sxy += (u[i] - mu) * (w[i] - mw)
		sxx += (u[i] - mu) * (u[i] - mu)
	}
	if sxx == 0 {
		return math.NaN()
	}
	return sxy / sxx
}
