package prefdata

// PositionalFlags returns the contrastive flags of two responses compared
// position by position: a token is contrastive when the other response has a
// different token at the same index or no token there. The synthetic tasks
// sentiment and edit construct their pairs this way.
func PositionalFlags(a, b []int32) (fa, fb []bool) {
	fa = make([]bool, len(a))
	fb = make([]bool, len(b))
	for i := range fa {
		fa[i] = i >= len(b) || a[i] != b[i]
	}
	for i := range fb {
		fb[i] = i >= len(a) || a[i] != b[i]
	}
	return fa, fb
}

// AlignFlags returns the contrastive flags of two responses from a longest
// common subsequence alignment: a token is shared when it is matched in the
// alignment and contrastive otherwise. Ties are broken towards matching the
// earliest tokens, so the result is deterministic. Used for disjoint pairs
// and imported data, where the responses need not line up by position.
//
//	shared(a) = shared(b) = LCS(a, b)
func AlignFlags(a, b []int32) (fa, fb []bool) {
	n, m := len(a), len(b)
	// L[i][j] = LCS length of a[i:], b[j:].
	L := make([]int32, (n+1)*(m+1))
	at := func(i, j int) int32 { return L[i*(m+1)+j] }
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			v := max(at(i+1, j), at(i, j+1))
			if a[i] == b[j] {
				v = max(v, at(i+1, j+1)+1)
			}
			L[i*(m+1)+j] = v
		}
	}
	fa = make([]bool, n)
	fb = make([]bool, m)
	for i := range fa {
		fa[i] = true
	}
	for j := range fb {
		fb[j] = true
	}
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j] && at(i, j) == at(i+1, j+1)+1:
			fa[i], fb[j] = false, false
			i++
			j++
		case at(i+1, j) >= at(i, j+1):
			i++
		default:
			j++
		}
	}
	return fa, fb
}

// EditDistance returns the Levenshtein distance between a and b (unit cost for
// insertion, deletion and substitution).
func EditDistance(a, b []int32) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
