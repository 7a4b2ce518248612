// mutate_manifest.mjs: write a deliberately corrupted copy of a manifest, to
// prove that a checker can fail. Every entry of the output is one file of the
// input with exactly one field changed (a count, a checksum, the format, a
// metadata key...), so a checker that works prints "0 passed, N failed" and
// a checker that misses a field lets an "ok" line through.
//
// Usage: node interop/mutate_manifest.mjs polars|arrowjs IN.json OUT.json
//
// Prints N (the number of corrupted entries) on stdout. Fields that a reader
// cannot check are not mutated for it: nodejs-polars sees neither record
// batches nor schema metadata.
import { readFileSync, writeFileSync } from 'node:fs';

// FLOAT_SHIFT moves a float sum by 1e-7 of Σ|x|, 100 times the checkers'
// tolerance (1e-9), so a changed sum must be caught.
const FLOAT_SHIFT = 1e-7;

function shiftFloat(v, absSum) {
  if (typeof v !== 'number') return 0; // "NaN" or "±Inf" becomes a finite number
  return v + Math.max(FLOAT_SHIFT * absSum, 1);
}

function mutations(f, reader) {
  const out = [];
  const clone = () => structuredClone(f);
  const add = (what, fn) => {
    const g = clone();
    fn(g);
    g.mutation = what;
    out.push(g);
  };
  add('rows+1', (g) => g.rows++);
  add('format flipped', (g) => (g.format = g.format === 'file' ? 'stream' : 'file'));
  if (reader === 'arrowjs') {
    add('batches+1', (g) => g.batches++);
    add('extra metadata key', (g) => g.metadata_keys.push('no-such-key'));
    if (f.metadata_keys.length > 0) add('metadata key dropped', (g) => g.metadata_keys.pop());
    for (const k of Object.keys(f.metadata || {})) add(`metadata ${k} changed`, (g) => (g.metadata[k] += 'x'));
  }
  f.columns.forEach((c, i) => {
    add(`${c.name}.values+1`, (g) => g.columns[i].values++);
    add(`${c.name}.nulls+1`, (g) => g.columns[i].nulls++);
    if (c.int_sum !== undefined) add(`${c.name}.int_sum+1`, (g) => (g.columns[i].int_sum = String(BigInt(c.int_sum) + 1n)));
    if (c.kind === 'float') {
      const abs = typeof c.abs_sum === 'number' ? c.abs_sum : 0;
      add(`${c.name}.sum shifted`, (g) => (g.columns[i].sum = shiftFloat(c.sum, abs)));
      add(`${c.name}.abs_sum shifted`, (g) => (g.columns[i].abs_sum = shiftFloat(c.abs_sum, abs)));
    }
    if (c.bytes !== undefined) add(`${c.name}.bytes+1`, (g) => g.columns[i].bytes++);
  });
  return out;
}

const [reader, inPath, outPath] = process.argv.slice(2);
if (!['polars', 'arrowjs'].includes(reader) || !outPath) {
  console.error('usage: node mutate_manifest.mjs polars|arrowjs IN.json OUT.json');
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(inPath, 'utf8'));
const files = manifest.files.flatMap((f) => mutations(f, reader));
writeFileSync(outPath, JSON.stringify({ files }, null, 2) + '\n');
console.log(files.length);
