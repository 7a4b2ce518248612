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
// This package knows every safetensors dtype (see [DTypeSize]) as raw bytes,
// and converts F32, F16 and BF16 to and from float32 ([DecodeFloat32s],
// [EncodeFloat32s]; F16/BF16 → float32 is exact, float32 → F16/BF16 rounds to
// nearest even, so a half-precision value survives the round trip bit for
// bit), and reads F64, I32 and I64 tensors as Go slices. [Write] emits the
// tensors in the order given, packed back to back, with the header padded
// with spaces so that the data starts at a multiple of 8 bytes. [Read] is
// strict: it rejects truncated files, a header length beyond the file, bad or
// duplicated JSON keys, unknown dtypes, a shape whose element count times the
// dtype size differs from the byte length, and offsets that are out of range,
// overlap, or leave bytes of the buffer uncovered. Errors are returned, never
// panicked, and start with "safetensors: ".
//
// [ReadHeader] and [Open] apply the same checks to the header alone and read
// tensors one at a time ([Reader.ReadFloat32s] converts in 1 MiB chunks), so
// a loader can check a file's shapes against what it expects before it
// allocates anything, and never holds the byte buffer and the converted
// tensors at once.
//
// Reading a file this package wrote and writing it again gives the same bytes.
package safetensors
