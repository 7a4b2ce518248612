package gradstat

// TableTokenSum is the tokens table's summary rows (i = j = −1) that have a
// contrastive mean: per run, step, kind and pair, the mean per-token
// gradient cosine of contrastive×contrastive entries, of end-aligned shared
// entries and of the rest.
const TableTokenSum = "tokensum"

// TokenSumColumns are the columns of the tokensum table.
var TokenSumColumns = cols(runCols, []Column{
	{"pair", Int, "example id"},
	{"contrastive_mean", Float, "mean cos over contrastive×contrastive entries"},
	{"contrastive_n", Int, "entries in that mean"},
	{"aligned_shared_mean", Float, "mean cos over end-aligned shared token pairs"},
	{"aligned_shared_n", Int, "entries in that mean"},
	{"other_mean", Float, "mean cos over every other entry"},
	{"other_n", Int, "entries in that mean"},
})

// tokenSumLayout is the tokensum table's -format md layout.
var tokenSumLayout = []MDCell{
	{"step", "%d", []string{"step"}, nil},
	{"pair", "%d", []string{"pair"}, nil},
	{"cos contrastive", "%.3f", []string{"contrastive_mean"}, nil},
	{"mean cos aligned shared (n)", "%.3f (%d)", []string{"aligned_shared_mean", "aligned_shared_n"}, nil},
	{"mean cos other (n)", "%.3f (%d)", []string{"other_mean", "other_n"}, nil},
}

// tokenSumSink keeps the summary rows of the tokens table.
type tokenSumSink struct {
	out Sink
	b   *Batch
}

func newTokenSumSink(out Sink) Sink { return &tokenSumSink{out: out, b: NewBatch(TokenSumColumns)} }

func (s *tokenSumSink) Write(b *Batch) error {
	s.b.Reset()
	i, cm := b.index["i"], b.index["contrastive_mean"]
	for r := 0; r < b.N; r++ {
		if b.Ints[i][r] != -1 || !b.Valid[cm][r] {
			continue
		}
		copyRow(s.b, b, r)
	}
	if s.b.N == 0 {
		return nil
	}
	return s.out.Write(s.b)
}

func (s *tokenSumSink) Close() error { return s.out.Close() }

// copyRow appends row r of src to dst, column by column of dst (by name).
func copyRow(dst, src *Batch, r int) {
	dst.Row()
	for c, col := range dst.Cols {
		sc := src.index[col.Name]
		if !src.Valid[sc][r] {
			continue
		}
		switch col.Type {
		case Int:
			dst.SetInt(c, src.Ints[sc][r])
		case Float:
			dst.SetFloat(c, src.Fls[sc][r])
		case String:
			dst.SetStr(c, src.Strs[sc][r])
		default:
			dst.SetBool(c, src.Bools[sc][r])
		}
	}
	dst.End()
}
