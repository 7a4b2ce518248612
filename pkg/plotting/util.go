package plotting

import "slices"

// sortedFinite returns the finite values of v, sorted.
func sortedFinite(v []float64) []float64 {
	s := make([]float64, 0, len(v))
	for _, x := range v {
		if finite(x) {
			s = append(s, x)
		}
	}
	slices.Sort(s)
	return s
}
