// Package arrowio holds what the entangle formats share about Arrow IPC:
// format detection, and the guards that keep a corrupt or hostile input from
// making Arrow allocate more than the input holds: Guard (a stream read
// through it, with Guard.Allocator), Check and InputAllocator (an input held
// in memory), ValidateRecord (a decoded batch), LimitAllocator (any single
// buffer).
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

// InputAllocator returns the allocator for reading an input of size bytes
// held in memory (Check first): the sum of everything Arrow allocates through
// it is at most 4 times the input plus 1 MiB. Reading a valid input copies
// each record batch's body once and each of its buffers once (2 times the
// input, plus rounding); the bound also covers what a corrupt batch makes
// Arrow read past the end of its buffer table.
func InputAllocator(size int) memory.Allocator {
	total := 4*int64(size) + 1<<20
	return budgetAllocator(LimitAllocator(int(min(total, int64(^uint(0)>>1)))), func() int64 { return total })
}

// budgetAllocator refuses (panics with an error the readers recover) an
// allocation that would take the sum of all its allocations past allowed().
func budgetAllocator(mem memory.Allocator, allowed func() int64) memory.Allocator {
	return &budgetAlloc{Allocator: mem, allowed: allowed}
}

type budgetAlloc struct {
	memory.Allocator
	allowed func() int64
	used    int64
}

func (a *budgetAlloc) take(n int) {
	if n < 0 || a.used+int64(n) > a.allowed() {
		panic(fmt.Errorf("corrupt input: buffers of %d bytes in all are more than the input allows (%d)", a.used+int64(n), a.allowed()))
	}
	a.used += int64(n)
}

func (a *budgetAlloc) Allocate(n int) []byte {
	a.take(n)
	return a.Allocator.Allocate(n)
}

func (a *budgetAlloc) Reallocate(n int, b []byte) []byte {
	a.take(n)
	return a.Allocator.Reallocate(n, b)
}
