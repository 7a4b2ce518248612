package runfmt

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
)

// Column names of steps.arrows after step and kind, all float64, nullable
// (NaN = null), in StepRow field order.
var stepFloatCols = []string{"lr", "loss", "grad_norm", "ms", "token_acc", "margin",
	"logp_chosen", "logp_rejected", "logp_chosen_tok", "logp_rejected_tok",
	"rewards_chosen", "rewards_rejected", "rewards_margins", "rewards_accuracies", "cos_mean",
	"batch_dot", "batch_ww", "batch_ll"}

// Scalar float64 columns of pairs.arrows (non-nullable), in PairRow order.
var pairFloatCols = []string{"logp_w", "logp_l", "ref_w", "ref_l", "loss", "margin", "dw", "dl", "cw", "cl", "dot", "ww", "ll"}

// Nullable float64 columns of pairs.arrows (probe rows only), in PairRow order.
var pairAfterCols = []string{"logp_w_after", "logp_l_after", "pred_w", "pred_l"}

var (
	i64   = arrow.PrimitiveTypes.Int64
	i32   = arrow.PrimitiveTypes.Int32
	f64   = arrow.PrimitiveTypes.Float64
	f32   = arrow.PrimitiveTypes.Float32
	utf8  = arrow.BinaryTypes.String
	boolT = arrow.FixedWidthTypes.Boolean
)

func fsl(n int, elem arrow.DataType) arrow.DataType {
	return arrow.FixedSizeListOfNonNullable(int32(n), elem)
}

func stepsFields() []arrow.Field {
	f := []arrow.Field{{Name: "step", Type: i64}, {Name: "kind", Type: utf8}}
	for _, c := range stepFloatCols {
		f = append(f, arrow.Field{Name: c, Type: f64, Nullable: true})
	}
	return f
}

func pairsFields(g, c int) []arrow.Field {
	f := []arrow.Field{{Name: "step", Type: i64}, {Name: "kind", Type: utf8}, {Name: "pair", Type: i64}}
	for _, n := range pairFloatCols[:4] {
		f = append(f, arrow.Field{Name: n, Type: f64})
	}
	f = append(f, arrow.Field{Name: "len_w", Type: i32}, arrow.Field{Name: "len_l", Type: i32})
	for _, n := range pairFloatCols[4:] {
		f = append(f, arrow.Field{Name: n, Type: f64})
	}
	for _, n := range []string{"dot_g", "ww_g", "ll_g"} {
		f = append(f, arrow.Field{Name: n, Type: fsl(g, f64)})
	}
	for _, n := range []string{"hid_w", "hid_l"} {
		f = append(f, arrow.Field{Name: n, Type: fsl(c, f32)})
	}
	for _, n := range pairAfterCols {
		f = append(f, arrow.Field{Name: n, Type: f64, Nullable: true})
	}
	return f
}

func gradsFields(d int) []arrow.Field {
	return []arrow.Field{{Name: "step", Type: i64}, {Name: "kind", Type: utf8}, {Name: "pair", Type: i64},
		{Name: "side", Type: utf8}, {Name: "token", Type: i32}, {Name: "token_id", Type: i32},
		{Name: "contrastive", Type: boolT, Nullable: true}, {Name: "grad", Type: fsl(d, f32)}}
}

// fieldsFor returns the schema fields of format for meta.
func fieldsFor(format string, m *Meta) []arrow.Field {
	switch format {
	case FormatSteps:
		return stepsFields()
	case FormatPairs:
		return pairsFields(len(m.Groups), m.C)
	case FormatGrads:
		return gradsFields(m.Dim)
	case FormatAttrib:
		return attribFields()
	}
	panic("runfmt: unknown format " + format)
}

// addedColumns are columns added to a format after its first files were
// written, without a new format version: a file without one reads as if the
// column were all NaN (matchColumns gives its index as −1).
var addedColumns = map[string]bool{"hist_w": true, "hist_l": true} // entangle.attrib, train -attrib-update

// matchColumns finds each wanted field in s by name and checks its type. It
// returns the column index of each wanted field. FixedSizeList lengths are
// checked against the metadata (what names them: G, C or D).
func matchColumns(s *arrow.Schema, want []arrow.Field) ([]int, error) {
	idx := make([]int, len(want))
	for i, w := range want {
		is := s.FieldIndices(w.Name)
		if len(is) == 0 && addedColumns[w.Name] {
			idx[i] = -1 // a file written before the column existed
			continue
		}
		if len(is) == 0 {
			return nil, fmt.Errorf("missing column %q", w.Name)
		}
		if len(is) > 1 {
			return nil, fmt.Errorf("column %q appears %d times", w.Name, len(is))
		}
		got := s.Field(is[0]).Type
		if wl, ok := w.Type.(*arrow.FixedSizeListType); ok {
			gl, ok := got.(*arrow.FixedSizeListType)
			if !ok || !arrow.TypeEqual(gl.Elem(), wl.Elem()) {
				return nil, fmt.Errorf("column %q has type %s, want %s", w.Name, got, w.Type)
			}
			if gl.Len() != wl.Len() {
				return nil, fmt.Errorf("column %q is a FixedSizeList of %d values, but the metadata says %d (%s)",
					w.Name, gl.Len(), wl.Len(), fslMetaName(w.Name))
			}
		} else if !arrow.TypeEqual(got, w.Type) {
			return nil, fmt.Errorf("column %q has type %s, want %s", w.Name, got, w.Type)
		}
		idx[i] = is[0]
	}
	return idx, nil
}

func fslMetaName(col string) string {
	switch col {
	case "dot_g", "ww_g", "ll_g":
		return "G, the number of groups"
	case "hid_w", "hid_l":
		return "C"
	}
	return "dim"
}
