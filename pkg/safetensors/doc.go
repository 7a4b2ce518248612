// Package safetensors reads and writes the safetensors weight format, the
// format PyTorch, JAX and the Hugging Face ecosystem use to exchange tensors.
//
// A file is
//
//	[8 bytes]  N, the header length, unsigned little-endian
//	[N bytes]  a JSON object, UTF-8, optionally padded with trailing spaces
//	[rest]     the byte buffer: every tensor's raw little-endian data
//
// The header maps each tensor name to
//
//	{"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}
//
// where the offsets are relative to the start of the byte buffer, and may
// hold one extra key "__metadata__" mapping strings to strings (free-form
// metadata; this project stores the model config JSON under "config").
//
// This package supports the dtypes F32, F64, I32 and I64. [Write] emits the
// tensors in the order given, packed back to back, with the header padded
// with spaces so that the data starts at a multiple of 8 bytes. [Read] is
// strict: it rejects truncated files, a header length beyond the file, bad or
// duplicated JSON keys, unknown dtypes, a shape whose element count times the
// dtype size differs from the byte length, and offsets that are out of range,
// overlap, or leave bytes of the buffer uncovered. Errors are returned, never
// panicked, and start with "safetensors: ".
//
// Reading a file this package wrote and writing it again gives the same bytes.
package safetensors
