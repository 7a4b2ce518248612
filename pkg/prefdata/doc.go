// Package prefdata holds preference data: pairs of a prompt, a chosen
// response y_w and a rejected response y_l, as token ids, with for every
// response token whether it is contrastive (differs from the other response)
// or shared.
//
// Overlap between y_w and y_l drives gradient entanglement (the paper's §4:
// shared tokens make ⟨∇log π_w, ∇log π_l⟩ large, contrastive tokens make it
// negative), so the synthetic tasks control it exactly:
//
//   - sentiment: a review whose words carry a polarity, then the cue
//     "sentiment"; chosen = prefix, correct label, suffix; rejected = prefix,
//     opposite label, the same suffix. Presets 1t (label only),
//     short-suffix (3 shared tokens) and long-suffix (24) follow the paper's
//     three datasets.
//   - edit: the rejected response is the chosen one with exactly K tokens
//     substituted at distinct random positions.
//   - disjoint: two independent continuations; the one with the higher reward
//     (positive minus negative sentiment words) is chosen.
//
// The synthetic language has readable words and a seeded bigram structure;
// its vocabulary travels with the data (Arrow metadata key "vocab").
// Contrastive flags are positional for sentiment and edit (by construction)
// and come from an LCS alignment (AlignFlags) for disjoint and imported data.
//
// Real data comes in through ReadRecords, which reads the records of the
// public preference datasets (HH-RLHF transcripts, TRL's explicit and
// implicit prompts, UltraFeedback, TL;DR, summarize_from_feedback) from JSON
// lines, gzip or parquet (pqrows) and extracts their prompts as TRL and the
// DPO reference code do, and Import, which tokenizes them with a
// TextTokenizer (WordTokenizer, ByteTokenizer, or a model's byte-level BPE
// from pkg/tokenizer), truncates as TRL's DPO trainer does, counts shared
// response prefixes and identical pairs, and records the tokenizer's identity
// (CheckTokenizer compares it with a model's). Datasets go out as JSONL
// (WriteJSONL, text decoded through the stored vocabulary) and are stored as
// Arrow IPC streams or files (WriteStream, WriteFile, Read) with the versioned
// schema documented in docs/FORMATS.md.
package prefdata
