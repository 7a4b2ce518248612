package tokenizer

import (
	"math"
	"strings"
)

// pairKey packs an adjacent pair of token ids into a merges key.
func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// mergeVal packs a merge's rank and result id into a merges value.
func mergeVal(rank, id int32) uint64 { return uint64(uint32(rank))<<32 | uint64(uint32(id)) }

const (
	noRank = math.MaxInt32
	// shortWord is the longest piece (in bytes) merged by the quadratic scan;
	// longer pieces use the heap, which is O(n log n).
	shortWord = 128
	// maxCachedPiece is the longest piece (in bytes) kept in the cache.
	maxCachedPiece = 256
	// maxCacheEntries bounds the cache; it is emptied when full.
	maxCacheEntries = 1 << 17
	// cacheChunk is the size of the arena blocks that hold cached ids.
	cacheChunk = 1 << 16
)

// rankOf returns the rank and result of merging a and b, or noRank.
func (t *Tokenizer) rankOf(a, b int32) (rank, id int32) {
	v, ok := t.merges[pairKey(a, b)]
	if !ok {
		return noRank, -1
	}
	return int32(v >> 32), int32(uint32(v))
}

// piece appends the ids of one pre-tokenized piece p (raw bytes) to dst.
func (t *Tokenizer) piece(dst []int32, p string) []int32 {
	if len(p) == 1 {
		return append(dst, t.byteID[p[0]])
	}
	if t.ignoreMerges {
		if id, ok := t.rawVocab[p]; ok {
			return append(dst, id)
		}
	}
	cacheable := len(p) <= maxCachedPiece
	if cacheable {
		t.mu.Lock()
		ids, ok := t.cache[p]
		t.mu.Unlock()
		if ok {
			return append(dst, ids...)
		}
	}
	start := len(dst)
	for i := 0; i < len(p); i++ {
		dst = append(dst, t.byteID[p[i]])
	}
	var w []int32
	if len(p) <= shortWord {
		w = t.mergeShort(dst[start:])
	} else {
		w = t.mergeLong(dst[start:])
	}
	dst = dst[:start+len(w)]
	if cacheable {
		t.store(p, w)
	}
	return dst
}

// store caches the ids of piece p.
func (t *Tokenizer) store(p string, ids []int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cache == nil || len(t.cache) >= maxCacheEntries {
		t.cache = make(map[string][]int32, 1024)
		t.arena = nil
	}
	if cap(t.arena)-len(t.arena) < len(ids) {
		t.arena = make([]int32, 0, cacheChunk)
	}
	n := len(t.arena)
	t.arena = append(t.arena, ids...)
	t.cache[strings.Clone(p)] = t.arena[n:len(t.arena):len(t.arena)]
}

// mergeShort applies the merges to the symbols w in place, lowest rank
// first and leftmost first among equal ranks, and returns the merged
// prefix of w. ranks[i] holds the rank of the pair (w[i], w[i+1]), so each
// step is one scan of an array and two map look-ups.
func (t *Tokenizer) mergeShort(w []int32) []int32 {
	var buf [shortWord]int32
	ranks := buf[:len(w)-1]
	for i := range ranks {
		ranks[i], _ = t.rankOf(w[i], w[i+1])
	}
	for len(w) > 1 {
		best, bi := int32(noRank), -1
		for i, r := range ranks {
			if r < best {
				best, bi = r, i
			}
		}
		if bi < 0 {
			break
		}
		_, id := t.rankOf(w[bi], w[bi+1])
		w[bi] = id
		copy(w[bi+1:], w[bi+2:])
		w = w[:len(w)-1]
		copy(ranks[bi:], ranks[bi+1:])
		ranks = ranks[:len(ranks)-1]
		if bi > 0 {
			ranks[bi-1], _ = t.rankOf(w[bi-1], w[bi])
		}
		if bi < len(ranks) {
			ranks[bi], _ = t.rankOf(w[bi], w[bi+1])
		}
	}
	return w
}

// mergeLong is mergeShort for long pieces: the symbols form a linked list
// and the candidate pairs a min-heap ordered by (rank, position). A popped
// candidate is current when the pair now at its position still has its
// rank (each pair has one rank, so the rank names the pair).
func (t *Tokenizer) mergeLong(w []int32) []int32 {
	n := len(w)
	next := make([]int32, n)
	prev := make([]int32, n)
	for i := range n {
		next[i], prev[i] = int32(i+1), int32(i-1)
	}
	next[n-1] = -1
	var h minHeap
	push := func(i int32) {
		if j := next[i]; j >= 0 {
			if r, _ := t.rankOf(w[i], w[j]); r != noRank {
				h.push(uint64(r)<<32 | uint64(i))
			}
		}
	}
	for i := range int32(n - 1) {
		push(i)
	}
	for len(h) > 0 {
		c := h.pop()
		rank, i := int32(c>>32), int32(uint32(c))
		if w[i] < 0 {
			continue
		}
		j := next[i]
		if j < 0 {
			continue
		}
		r, id := t.rankOf(w[i], w[j])
		if r != rank {
			continue
		}
		w[i], w[j] = id, -1
		next[i] = next[j]
		if next[j] >= 0 {
			prev[next[j]] = i
		}
		if prev[i] >= 0 {
			push(prev[i])
		}
		push(i)
	}
	k := 0
	for i := int32(0); i >= 0; i = next[i] {
		w[k] = w[i]
		k++
	}
	return w[:k]
}

// minHeap is a binary min-heap of packed (rank, position) candidates.
type minHeap []uint64

func (h *minHeap) push(v uint64) {
	*h = append(*h, v)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if a[p] <= a[i] {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *minHeap) pop() uint64 {
	a := *h
	top := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a = a[:last]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(a) && a[l] < a[m] {
			m = l
		}
		if r := l + 1; r < len(a) && a[r] < a[m] {
			m = r
		}
		if m == i {
			break
		}
		a[m], a[i] = a[i], a[m]
		i = m
	}
	*h = a
	return top
}
