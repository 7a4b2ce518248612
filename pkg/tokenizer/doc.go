// Package tokenizer implements the byte-level BPE tokenizers of GPT-2,
// GPT-NeoX/Pythia, SmolLM2, Qwen2 and Llama-3 exactly, read from a model's
// own files: tokenizer.json, or GPT-2's vocab.json and merges.txt, with
// tokenizer_config.json for the special tokens and the chat template.
//
// # Usage
//
//	tk, err := tokenizer.Load("path/to/gpt2") // a Hugging Face model folder
//	ids := tk.Encode("The dog")              // [464 3290]; "<|endoftext|>" in the text stays text
//	ids = tk.EncodeSpecial(text)             // added tokens in the text become their ids
//	s := tk.Decode(ids)                      // the exact bytes back
//	p, err := tk.ApplyChatTemplate([]tokenizer.Message{{Role: "user", Content: "Hi"}}, true)
//	ids = tk.EncodeSpecial(p)
//
// Encode is Hugging Face's encode(s, add_special_tokens=False) with special
// tokens split as text, and tiktoken's encode_ordinary; EncodeSpecial is
// Hugging Face's encode(s, add_special_tokens=False) and tiktoken's
// encode(s, allowed_special="all"). Neither adds a BOS token (a
// post_processor is never applied).
//
// # Algorithm
//
// Encoding a text runs these steps; each reads one part of tokenizer.json.
//
//	step            tokenizer.json        what it does
//	added tokens    added_tokens          split the text at added tokens (leftmost, then longest
//	                                      first); each becomes its id. Encode matches only those
//	                                      with "special": false; EncodeSpecial all of them
//	normalize       normalizer            NFC (GPT-NeoX, Qwen2) or nothing
//	pre-tokenize    pre_tokenizer         split each segment into pieces; the stages below, in order
//	bytes           (ByteLevel)           a piece is its UTF-8 bytes; byte b is the one-byte token
//	                                      whose string is byteRune[b] (GPT-2's byte-to-unicode map)
//	merge           model.merges          repeatedly join the adjacent pair of lowest merge rank
//	                                      (leftmost among equals) into the token of their
//	                                      concatenation, until no pair has a merge; with
//	                                      model.ignore_merges (Llama-3), a piece that is a whole
//	                                      vocabulary token is that token at once
//
// Pre-tokenizer stages (Identity().Pretokenizer joins the names with "+"):
//
//	name        declared as                               pieces
//	gpt2        ByteLevel{use_regex: true}, or Split of    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
//	            that pattern                               ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//	llama3      Split{Regex: PatternLlama3, Isolated}      (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|
//	                                                      \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//	qwen2       Split{Regex: PatternQwen2, Isolated}       the llama3 pattern with \p{N} for \p{N}{1,3}
//	digits      Digits{individual_digits: true}           every \p{N} rune alone, the text between as one piece
//	digit-runs  Digits{individual_digits: false}          every run of \p{N} runes, the text between
//	none        ByteLevel{use_regex: false} alone         the whole segment is one piece
//
// The families' tokenizer.json declare: GPT-2 and Pythia "gpt2" (Pythia with
// the NFC normalizer), SmolLM2 "digits+gpt2", Qwen2 "qwen2" (with NFC),
// Llama-3 "llama3". The patterns are scanned by hand (Go's regexp has no
// lookahead), trying the alternatives in order at each position as a
// backtracking engine does. \s is Unicode White_Space (unicode.IsSpace):
// U+0085 is white space, U+FEFF is not, as in the Rust regex engines of
// tiktoken and Hugging Face tokenizers (JavaScript's \s differs on both).
// Under (?i), 's also matches U+017F (ſ), whose case folding is s. \p{L}
// and \p{N} are those of the unicode package (Unicode 15.0.0); a letter
// added in a later Unicode version is class "other" here and may split
// differently from an engine with newer tables. A byte that is not valid
// UTF-8 is one rune of class "other".
//
// Merges use a cache of pieces up to 256 bytes; pieces of up to 128 bytes
// merge by a scan over an array of pair ranks, longer ones with a heap
// ordered by (rank, position), so a long run (10,000 spaces) costs
// O(n log n). Decode concatenates the bytes of the tokens (added tokens give
// their content), so Decode(Encode(s)) == s for every string when there is
// no normalizer; bytes that are not valid UTF-8 are kept.
//
// # What Load refuses
//
// Load refuses, with an error naming the file and the component, anything it
// does not implement exactly: normalizers other than NFC (and Sequences of
// it); pre-tokenizers other than the stages above, ByteLevel with
// add_prefix_space=true, ByteLevel before another stage, Split with another
// pattern or behavior; decoders other than ByteLevel; models other than BPE,
// or BPE with dropout, byte_fallback, a subword prefix or suffix; added tokens
// with lstrip, rstrip or single_word; a vocabulary without the 256 byte
// tokens; merges of tokens not in the vocabulary. Post-processors
// (ByteLevel, TemplateProcessing, BertProcessing, RobertaProcessing) are
// accepted and not applied; truncation and padding are ignored, as
// transformers overrides them.
//
// # Chat templates
//
// Templates are recognised, not interpreted: the template is put in a
// canonical form (string literals decoded, white space in tags dropped,
// x['name'] read as x.name, comments dropped, the text between tags as
// transformers' Jinja settings output it: trim_blocks, lstrip_blocks,
// "{%-"/"-%}", no final newline) and compared with the known ones: ChatML as SmolLM2 and Qwen2 write it (with or without a default
// system message, which is read from the template) and Llama-3's (the
// instruct form, and the base form that always adds the generation prompt).
// ApplyChatTemplate documents the renderings. Without a template (GPT-2),
// or with another one, ApplyChatTemplate returns an error.
//
// # Exactness
//
// reference_test.go encodes testdata/corpus.jsonl (gen_corpus.go: hand
// written cases and seeded random strings over many scripts, white space,
// emoji, numbers, contractions and special-token text) with GPT-2 (from
// vocab.json and merges.txt, and as tokenizer.json in both pre-tokenizer
// spellings) and the real Llama-3 tokenizer.json, and compares every id
// with tiktoken (OpenAI's Rust core) and @huggingface/tokenizers, run by
// interop/check_tokenizers.mjs.
package tokenizer
