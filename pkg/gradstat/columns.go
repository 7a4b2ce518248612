package gradstat

// Table names accepted by -table.
const (
	TablePairs  = "pairs"
	TableSteps  = "steps"
	TableGroups = "groups"
	TableTokens = "tokens"
	TableAttrib = "attrib"
)

// Tables lists the table names in documentation order.
var Tables = []string{TableSteps, TablePairs, TableGroups, TableTokens, TableAttrib, TableRuns, TableTokenSum, TableMass, TableAttribLabel}

// BaseTable returns the table the engine computes for the named table: a
// derived table (tokensum, mass) is computed from another table's rows.
func BaseTable(table string) string {
	switch table {
	case TableTokenSum:
		return TableTokens
	case TableMass:
		return TablePairs
	case TableAttribLabel:
		return TableAttrib
	}
	return table
}

// DerivedSink returns the Sink that turns the rows of BaseTable(table) into
// the rows of table, written to out; out itself for a table that is not
// derived. label gives the examples' labels of the attriblabel table.
func DerivedSink(table string, out Sink, label LabelFunc) Sink {
	switch table {
	case TableAttribLabel:
		return NewAttribLabelSink(out, label)
	case TableTokenSum:
		return newTokenSumSink(out)
	case TableMass:
		return newMassSink(out)
	}
	return out
}

// MarkdownLayout returns the -format md layout of the named table, or nil
// for the generic one (every column, floats to 4 significant digits).
func MarkdownLayout(table string) []MDCell {
	switch table {
	case TableTokenSum:
		return tokenSumLayout
	case TableMass:
		return massLayout
	case TableAttribLabel:
		return attribLabelLayout
	}
	return nil
}

var runCols = []Column{
	{"run", String, "run label: the sweep's key=value path parts (task=…/loss=…/seed=…), else the run directory or file name"},
	{"run_id", String, "train's run_id (hash of the resolved train config)"},
	{"loss", String, "loss name from the run's metadata (\"\" for sft)"},
	{"step", Int, "optimizer step"},
	{"kind", String, "train (the step's batch) or probe (fixed probe pairs at dump steps)"},
}

func cols(groups ...[]Column) []Column {
	var out []Column
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// ColumnsOf returns the columns of the named table, or nil if unknown.
func ColumnsOf(table string) []Column {
	switch table {
	case TablePairs:
		return PairColumns
	case TableSteps:
		return StepColumns
	case TableGroups:
		return GroupColumns
	case TableTokens:
		return TokenColumns
	case TableAttrib:
		return AttribColumns
	case TableRuns:
		return RunColumns(nil)
	case TableTokenSum:
		return TokenSumColumns
	case TableMass:
		return MassColumns
	case TableAttribLabel:
		return AttribLabelColumns
	}
	return nil
}
