package gradstat

import (
	"fmt"
	"math"
)

// Type is the type of an output column.
type Type int8

const (
	Int    Type = iota // int64
	Float              // float64; non-finite values are written as null
	String             // utf8
	Bool               // bool
)

// Column is one column of an output table.
type Column struct {
	Name string
	Type Type
	Doc  string // one line, for docs/FORMATS.md and -h
}

// Batch is a column-major buffer of rows of one table, filled row by row
// with the typed appenders in column order and closed with End.
//
// A value is null when its validity is false: Float values that are NaN or
// ±Inf are null (the reason is reported as a warning), and Null appends a
// null of any type.
type Batch struct {
	Cols  []Column
	Ints  [][]int64
	Fls   [][]float64
	Strs  [][]string
	Bools [][]bool
	Valid [][]bool
	N     int // complete rows
	c     int // next column of the current row
}

// NewBatch returns an empty batch for the given columns.
func NewBatch(cols []Column) *Batch {
	b := &Batch{Cols: cols}
	n := len(cols)
	b.Ints, b.Fls, b.Strs, b.Bools, b.Valid = make([][]int64, n), make([][]float64, n), make([][]string, n), make([][]bool, n), make([][]bool, n)
	return b
}

// Reset empties the batch, keeping its buffers.
func (b *Batch) Reset() {
	for i := range b.Cols {
		b.Ints[i], b.Fls[i], b.Strs[i] = b.Ints[i][:0], b.Fls[i][:0], b.Strs[i][:0]
		b.Bools[i], b.Valid[i] = b.Bools[i][:0], b.Valid[i][:0]
	}
	b.N, b.c = 0, 0
}

func (b *Batch) next(t Type) int {
	c := b.c
	if c >= len(b.Cols) {
		panic("gradstat: too many values in a row")
	}
	if b.Cols[c].Type != t {
		panic(fmt.Sprintf("gradstat: column %s: wrong value type", b.Cols[c].Name))
	}
	b.c++
	return c
}

// I appends an int64 value.
func (b *Batch) I(v int64) *Batch {
	c := b.next(Int)
	b.Ints[c] = append(b.Ints[c], v)
	b.Valid[c] = append(b.Valid[c], true)
	return b
}

// F appends a float64 value (null if not finite).
func (b *Batch) F(v float64) *Batch {
	c := b.next(Float)
	b.Fls[c] = append(b.Fls[c], v)
	b.Valid[c] = append(b.Valid[c], !math.IsNaN(v) && !math.IsInf(v, 0))
	return b
}

// S appends a string value.
func (b *Batch) S(v string) *Batch {
	c := b.next(String)
	b.Strs[c] = append(b.Strs[c], v)
	b.Valid[c] = append(b.Valid[c], true)
	return b
}

// B appends a bool value.
func (b *Batch) B(v bool) *Batch {
	c := b.next(Bool)
	b.Bools[c] = append(b.Bools[c], v)
	b.Valid[c] = append(b.Valid[c], true)
	return b
}

// Null appends a null value of the current column's type.
func (b *Batch) Null() *Batch {
	c := b.c
	if c >= len(b.Cols) {
		panic("gradstat: too many values in a row")
	}
	switch b.Cols[c].Type {
	case Int:
		b.Ints[c] = append(b.Ints[c], 0)
	case Float:
		b.Fls[c] = append(b.Fls[c], math.NaN())
	case String:
		b.Strs[c] = append(b.Strs[c], "")
	case Bool:
		b.Bools[c] = append(b.Bools[c], false)
	}
	b.Valid[c] = append(b.Valid[c], false)
	b.c++
	return b
}

// End completes the current row. It panics if the row is incomplete.
func (b *Batch) End() {
	if b.c != len(b.Cols) {
		panic(fmt.Sprintf("gradstat: row has %d values, want %d", b.c, len(b.Cols)))
	}
	b.c = 0
	b.N++
}

// Sink receives the output table batch by batch.
type Sink interface {
	// Write writes the complete rows of b; b may be reused afterwards.
	Write(b *Batch) error
	// Close finishes the output (an Arrow end-of-stream marker or footer).
	Close() error
}
