// Package arrowcheck summarizes Arrow IPC files so that independent readers
// can check them.
//
// Every Arrow output of the entangle tools (datasets from prefgen, metrics,
// pairs and gradients from train, statistics from gradstat) must open in
// readers that share no code with Arrow Go. This package is the Go half of
// that check: [SummarizeFile] reads one IPC file or stream with the Arrow Go
// v17 reader and returns a [FileSummary] (format, record batches, rows, schema
// metadata keys, and for every column — recursing into List, LargeList and
// FixedSizeList children — its type, value count, null count and a checksum).
// A [Manifest] of such summaries is written as JSON by the arrowsum command,
// and the Node scripts in interop/ (nodejs-polars and apache-arrow JS)
// recompute the same numbers and compare.
//
// Checksums, per column kind:
//
//	int    sum of the non-null values, exact (IntSum, a decimal string) and as float64 (Sum)
//	bool   number of true values (IntSum and Sum)
//	float  Σ x over non-null values, in row order, in float64 (Sum), and Σ |x| (AbsSum)
//	string total UTF-8 byte length of the non-null values (Bytes)
//	list   counts only; its child is the next column, named "NAME[]"
//	other  counts only
//
// A list child column counts the elements of the non-null lists only, so a
// null list contributes nothing, whatever its offsets say. Readers compare
// float sums with a relative tolerance of AbsSum·1e-9 because they may add in
// a different order; int, bool, string and count checks are exact.
//
// [WriteFixtures] writes small sample files that cover every type the
// project uses, in both IPC formats, with and without compression.
package arrowcheck
