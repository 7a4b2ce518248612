// Package arrowio holds what the entangle formats share about Arrow IPC:
// format detection and a guard against corrupt inputs.
package arrowio

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// IsFile reports whether head (the first bytes of an input) starts an Arrow IPC
// file rather than a stream.
func IsFile(head []byte) bool { return len(head) >= 6 && string(head[:6]) == "ARROW1" }

// LimitAllocator returns an allocator that refuses (panics with an error the
// readers recover) any single allocation larger than max bytes. Arrow v17's
// readers allocate message bodies at the size the input claims, so a corrupt
// length would otherwise exhaust memory and kill the process; readers pass a
// bound derived from the input size instead.
func LimitAllocator(max int) memory.Allocator {
	return &limitAlloc{Allocator: memory.NewGoAllocator(), max: max}
}

type limitAlloc struct {
	memory.Allocator
	max int
}

func (a *limitAlloc) Allocate(n int) []byte {
	if n < 0 || n > a.max {
		panic(fmt.Errorf("corrupt input: a buffer of %d bytes is larger than the input allows (%d)", n, a.max))
	}
	return a.Allocator.Allocate(n)
}

func (a *limitAlloc) Reallocate(n int, b []byte) []byte {
	if n < 0 || n > a.max {
		panic(fmt.Errorf("corrupt input: a buffer of %d bytes is larger than the input allows (%d)", n, a.max))
	}
	return a.Allocator.Reallocate(n, b)
}
