// Package runfmt writes and reads train's run outputs, the three Arrow IPC
// streams specified in docs/FORMATS.md (the "train" section), and the
// optional fourth, attrib.arrows (train -attrib):
//
//	steps.arrows  format "entangle.steps"  one row per optimizer step (kind "train") and per evaluation ("eval")
//	pairs.arrows  format "entangle.pairs"  one row per training pair of a step, plus probe pairs at dump steps
//	grads.arrows  format "entangle.grads"  gradient vectors (full or sketched) at dump steps
//	attrib.arrows format "entangle.attrib" probe × training-pair gradient dots at dump steps (AttribRow)
//
// The run directory's file names, the table of its outputs (Layout) and
// their temporary files are in layout.go: RemoveOutputs is what train
// -force does, RemoveTemps what a resume does first. The values of the kind
// and side columns are named in kinds.go.
//
// Every stream carries the same schema metadata (Meta): format,
// format_version (Version), producer, run_id, config, model_config, groups
// (the model.Tensors table as JSON), vocab, loss and mode; pairs add G and C,
// grads add sketch, sketch_seed and dim.
//
// # Writing
//
// A writer (NewStepWriter, NewPairWriter, NewGradWriter) writes ONE record
// batch per Write call — one step — and flushes the destination after it when
// the destination has a Flush method (bufio.Writer), so that a reader sees every
// step written so far and a killed run leaves a readable prefix. Close writes
// the end-of-stream marker. Float columns documented as nullable take NaN for
// null; FixedSizeList columns must have exactly G, C or D values per row.
//
// # Reading
//
// A reader (NewStepReader, NewPairReader, NewGradReader, or OpenAny when the
// format is not known in advance) streams one record batch at a time, with
// bounded memory: Next advances, Rows returns the batch's rows, Err the error
// that stopped Next. Rows and their slices (DotG, HidW, Grad, ...) are views of
// the current batch, valid until the next call to Next or Release; copy what
// must outlive it. Readers refuse, with an error naming the input:
//
//   - prefgen's datasets (format "entangle.prefdata") and Arrow without entangle metadata;
//   - another train format than the one asked for, an unknown format_version
//     (with a hint: use the build that wrote the run);
//   - missing columns, wrong column types, FixedSizeList lengths that differ
//     from the metadata's G, C or D;
//   - corrupt record batches (nulls in non-nullable columns, short buffers).
//
// A stream that ends without its end-of-stream marker (a killed or still
// running train: cut inside a batch, inside the marker, or exactly between
// two batches) has delivered every complete step; Err then wraps ErrTruncated
// and names the last complete step. A caller that follows a live run keeps
// the rows it was given and treats that error as a warning:
//
//	for r.Next() {
//		use(r.Rows()) // complete steps only
//	}
//	if err := r.Err(); errors.Is(err, runfmt.ErrTruncated) {
//		warn(err) // "pairs.arrows: after step 41 (the last complete step): truncated Arrow stream: ..."
//	} else if err != nil {
//		return err
//	}
//
// # Memory
//
// Every message passes through pkg/arrowio.Guard before Arrow sees it: its
// metadata and body lengths are checked against what is left of the input
// (read in bounded pieces from a pipe), and its flatbuffer (the schema
// included) is verified, so no length in a corrupt or hostile input makes a
// reader allocate more than the input holds. Readers also allocate through
// pkg/arrowio.LimitAllocator (WithMaxBuffer sets the bound, 4 GiB by
// default). A reader holds one record batch at a time (twice from a pipe).
package runfmt
