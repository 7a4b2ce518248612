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
var Tables = []string{TableSteps, TablePairs, TableGroups, TableTokens, TableAttrib, TableRuns}

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
	}
	return nil
}
