package gradstat

import (
	"fmt"
	"math"
	"strings"
)

// Aggregated-column suffixes written by Aggregate, in column order.
var aggSuffixes = []string{"_mean", "_sd", "_min", "_max", "_n"}

// Aggregate groups the rows of b by the values of the string columns named
// by keys (null groups with ""), in order of first appearance of each
// combination, and returns one row per group: the key columns, "runs" (rows
// in the group), then for every Int or Float column of b not among the keys,
// X_mean, X_sd (sample standard deviation, n−1 denominator; null for n < 2),
// X_min, X_max over the non-null values, and X_n (their count). String and
// Bool columns not among the keys are dropped. Sums run in row order, so the
// result is deterministic. An unknown or non-string key is an error.
func Aggregate(b *Batch, keys []string) (*Batch, error) {
	idx := make([]int, len(keys))
	var out []Column
	for i, k := range keys {
		idx[i] = -1
		for c, col := range b.Cols {
			if col.Name == k {
				idx[i] = c
			}
		}
		if idx[i] < 0 {
			return nil, fmt.Errorf("-by %s: no such column (%s)", k, strings.Join(stringCols(b), ", "))
		}
		if b.Cols[idx[i]].Type != String {
			return nil, fmt.Errorf("-by %s: not a string column", k)
		}
		out = append(out, b.Cols[idx[i]])
	}
	out = append(out, Column{"runs", Int, "rows (runs) in the group"})
	var num []int
	isKey := func(c int) bool {
		for _, i := range idx {
			if i == c {
				return true
			}
		}
		return false
	}
	for c, col := range b.Cols {
		if isKey(c) || (col.Type != Int && col.Type != Float) {
			continue
		}
		num = append(num, c)
		out = append(out,
			Column{col.Name + "_mean", Float, "mean over the group of " + col.Name},
			Column{col.Name + "_sd", Float, "sample standard deviation (n−1) of " + col.Name},
			Column{col.Name + "_min", Float, "minimum of " + col.Name},
			Column{col.Name + "_max", Float, "maximum of " + col.Name},
			Column{col.Name + "_n", Int, "non-null values of " + col.Name + " in the group"})
	}
	// Group rows by key values, first appearance first.
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
	vals := []float64{}
	for _, k := range order {
		rows := members[k]
		a.Row()
		o := 0 // the output column: keys, runs, then five per numeric column
		for _, c := range idx {
			a.SetStr(o, b.Strs[c][rows[0]]) // a null key groups as ""
			o++
		}
		a.Int("runs", int64(len(rows)))
		o++
		for _, c := range num {
			vals = vals[:0]
			for _, r := range rows {
				if !b.Valid[c][r] {
					continue
				}
				if b.Cols[c].Type == Int {
					vals = append(vals, float64(b.Ints[c][r]))
				} else {
					vals = append(vals, b.Fls[c][r])
				}
			}
			m, sd, lo, hi := MeanSD(vals)
			a.SetFloat(o, m)
			a.SetFloat(o+1, sd)
			a.SetFloat(o+2, lo)
			a.SetFloat(o+3, hi)
			a.SetInt(o+4, int64(len(vals)))
			o += len(aggSuffixes)
		}
		a.End()
	}
	return a, nil
}

// MeanSD returns the mean, the sample standard deviation (n−1 denominator,
// two-pass; NaN for fewer than 2 values), the minimum and the maximum of x
// (all NaN for an empty x).
func MeanSD(x []float64) (m, sd, lo, hi float64) {
	if len(x) == 0 {
		return math.NaN(), math.NaN(), math.NaN(), math.NaN()
	}
	lo, hi = x[0], x[0]
	for _, v := range x {
		m += v
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	m /= float64(len(x))
	if len(x) < 2 {
		return m, math.NaN(), lo, hi
	}
	var ss float64
	for _, v := range x {
		ss += (v - m) * (v - m)
	}
	return m, math.Sqrt(ss / float64(len(x)-1)), lo, hi
}

func stringCols(b *Batch) []string {
	var s []string
	for _, c := range b.Cols {
		if c.Type == String {
			s = append(s, c.Name)
		}
	}
	return s
}

// aggGroupAt reports whether the columns from c on are the five columns
// X_mean, X_sd, X_min, X_max, X_n written by Aggregate, and returns X.
func aggGroupAt(cols []Column, c int) (string, bool) {
	if c+len(aggSuffixes) > len(cols) || !strings.HasSuffix(cols[c].Name, "_mean") {
		return "", false
	}
	base := strings.TrimSuffix(cols[c].Name, "_mean")
	for i, s := range aggSuffixes {
		if cols[c+i].Name != base+s {
			return "", false
		}
	}
	return base, true
}

// Select returns the columns of b named in names, in that order; a name X
// that is not a column but has the aggregated columns X_mean … X_n selects
// those five. An unknown name is an error.
func Select(b *Batch, names []string) (*Batch, error) {
	var pick []int
	for _, n := range names {
		found := false
		for c, col := range b.Cols {
			if col.Name == n {
				pick, found = append(pick, c), true
				break
			}
			if base, ok := aggGroupAt(b.Cols, c); ok && base == n {
				for i := range aggSuffixes {
					pick = append(pick, c+i)
				}
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("-cols: no column %q", n)
		}
	}
	out := &Batch{N: b.N}
	for _, c := range pick {
		out.Cols = append(out.Cols, b.Cols[c])
		out.Ints = append(out.Ints, b.Ints[c])
		out.Fls = append(out.Fls, b.Fls[c])
		out.Strs = append(out.Strs, b.Strs[c])
		out.Bools = append(out.Bools, b.Bools[c])
		out.Valid = append(out.Valid, b.Valid[c])
	}
	return out, nil
}
