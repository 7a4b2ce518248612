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

// Batch is a column-major buffer of rows of one table. A row is begun with
// Row, which makes every column null, filled by column name (Int, Float, Str,
// Bool) or by position (SetInt, SetFloat, SetStr, SetBool), and closed with
// End:
//
//	b.Row()
//	b.Float("cos", s.Cos)
//	b.End()
//
// A Float value that is NaN or ±Inf is null (the reason is reported as a
// warning); a column that is not set is null.
type Batch struct {
	Cols  []Column
	Ints  [][]int64
	Fls   [][]float64
	Strs  [][]string
	Bools [][]bool
	Valid [][]bool
	N     int // complete rows
	open  bool
	index map[string]int
}

// NewBatch returns an empty batch for the given columns.
func NewBatch(cols []Column) *Batch {
	b := &Batch{Cols: cols, index: make(map[string]int, len(cols))}
	n := len(cols)
	b.Ints, b.Fls, b.Strs, b.Bools, b.Valid = make([][]int64, n), make([][]float64, n), make([][]string, n), make([][]bool, n), make([][]bool, n)
	for i, c := range cols {
		if _, dup := b.index[c.Name]; dup {
			panic("gradstat: duplicate column " + c.Name)
		}
		b.index[c.Name] = i
	}
	return b
}

// Reset empties the batch, keeping its buffers.
func (b *Batch) Reset() {
	for i := range b.Cols {
		b.Ints[i], b.Fls[i], b.Strs[i] = b.Ints[i][:0], b.Fls[i][:0], b.Strs[i][:0]
		b.Bools[i], b.Valid[i] = b.Bools[i][:0], b.Valid[i][:0]
	}
	b.N, b.open = 0, false
}

// Row begins a row with every column null.
func (b *Batch) Row() {
	if b.open {
		panic("gradstat: Row before End")
	}
	for c, col := range b.Cols {
		switch col.Type {
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
	}
	b.open = true
}

// End completes the current row.
func (b *Batch) End() {
	if !b.open {
		panic("gradstat: End without Row")
	}
	b.open = false
	b.N++
}

// col returns the index of the named column of type t.
func (b *Batch) col(name string, t Type) int {
	c, ok := b.index[name]
	if !ok {
		panic("gradstat: no column " + name)
	}
	if !b.open {
		panic("gradstat: value outside a row")
	}
	if b.Cols[c].Type != t {
		panic(fmt.Sprintf("gradstat: column %s: wrong value type", name))
	}
	return c
}

// Int sets the named int64 column of the current row.
func (b *Batch) Int(name string, v int64) { b.SetInt(b.col(name, Int), v) }

// Float sets the named float64 column (null if v is not finite).
func (b *Batch) Float(name string, v float64) { b.SetFloat(b.col(name, Float), v) }

// Str sets the named utf8 column.
func (b *Batch) Str(name string, v string) { b.SetStr(b.col(name, String), v) }

// Bool sets the named bool column.
func (b *Batch) Bool(name string, v bool) { b.SetBool(b.col(name, Bool), v) }

// SetInt sets column c (an Int column) of the current row.
func (b *Batch) SetInt(c int, v int64) {
	b.Ints[c][b.N], b.Valid[c][b.N] = v, true
}

// SetFloat sets column c (a Float column); null if v is not finite.
func (b *Batch) SetFloat(c int, v float64) {
	b.Fls[c][b.N], b.Valid[c][b.N] = v, !math.IsNaN(v) && !math.IsInf(v, 0)
}

// SetStr sets column c (a String column).
func (b *Batch) SetStr(c int, v string) {
	b.Strs[c][b.N], b.Valid[c][b.N] = v, true
}

// SetBool sets column c (a Bool column).
func (b *Batch) SetBool(c int, v bool) {
	b.Bools[c][b.N], b.Valid[c][b.N] = v, true
}

// Sink receives the output table batch by batch.
type Sink interface {
	// Write writes the complete rows of b; b may be reused afterwards.
	Write(b *Batch) error
	// Close finishes the output (an Arrow end-of-stream marker or footer).
	Close() error
}
