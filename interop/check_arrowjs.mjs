// check_arrowjs.mjs: read every Arrow IPC file listed in a manifest written by
// arrowsum (internal/arrowcheck) with apache-arrow JS, an independent reader
// (pure JavaScript), and compare batches, rows, schema metadata and
// per-column counts and checksums with the manifest.
//
// Usage: node interop/check_arrowjs.mjs MANIFEST.json
//
// Prints "ok FILE rows=N" or "FAIL FILE: what differs" per file, then
// "N passed, M failed"; exits 1 if any file failed, 2 on a usage error.
//
// What is compared (see internal/arrowcheck/doc.go for the manifest):
//   format (from the "ARROW1" magic), record batches, rows, column names and
//   order, the set of schema metadata keys and the values of "format" and
//   "format_version", and per column: values (slots), nulls, and
//     int    exact sum (BigInt)          float  sum within 1e-9·abs_sum, and abs_sum
//     bool   number of true values       string total UTF-8 bytes
//   list columns: the child "NAME[]" holds the elements of the non-null lists.
// apache-arrow JS bundles no codecs: zstd (fzstd) and lz4 (lz4js) are
// registered below.
import { readFileSync } from 'node:fs';
import { compressionRegistry, CompressionType, DataType, tableFromIPC } from 'apache-arrow';
// The placeholder batch apache-arrow JS adds to a stream or file that has a
// schema and no record batch (so that a Table always has a batch); it is not
// in the file and must not be counted.
import { _InternalEmptyPlaceholderRecordBatch as Placeholder } from 'apache-arrow/recordbatch';
import { decompress as zstdDecompress } from 'fzstd';
import lz4 from 'lz4js';

// fzstd returns a view at an unaligned byte offset; arrow-js then fails on
// 8-byte types ("start offset of BigInt64Array should be a multiple of 8"),
// so both codecs return a fresh copy.
compressionRegistry.set(CompressionType.ZSTD, { decode: (b) => new Uint8Array(zstdDecompress(b)) });
compressionRegistry.set(CompressionType.LZ4_FRAME, { decode: (b) => Uint8Array.from(lz4.decompress(b)) });

// REL_TOL is the relative tolerance of float sums, as a fraction of Σ|x|
// (the same as check_polars.js; this reader adds in row order like Go, so
// it usually matches exactly).
const REL_TOL = 1e-9;

function parseFloatField(v) {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  throw new Error(`bad float ${JSON.stringify(v)}`);
}

function closeEnough(got, want, absSum) {
  if (!Number.isFinite(want) || !Number.isFinite(got)) return Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want));
  return Math.abs(got - want) <= REL_TOL * absSum;
}

function kindOf(type) {
  if (DataType.isInt(type)) return 'int';
  if (DataType.isFloat(type)) return 'float';
  if (DataType.isBool(type)) return 'bool';
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) return 'string';
  if (DataType.isList(type) || DataType.isFixedSizeList(type)) return 'list';
  return 'other';
}

// newAcc returns an accumulator for one manifest column.
function newAcc() {
  return { values: 0, nulls: 0, intSum: 0n, sum: 0, abs: 0, bytes: 0 };
}

// visit adds vector vec to the accumulator of column name (and its list
// children, created on first use in accs).
function visit(vec, name, accs) {
  let a = accs.get(name);
  if (!a) accs.set(name, (a = newAcc()));
  const n = vec.length;
  a.values += n;
  a.nulls += vec.nullCount;
  const kind = kindOf(vec.type);
  if (kind === 'other') return;
  // Without nulls, read primitive values through the typed array.
  const vals = vec.nullCount === 0 && (kind === 'int' || kind === 'float') ? vec.toArray() : null;
  for (let i = 0; i < n; i++) {
    const v = vals ? vals[i] : vec.get(i);
    if (v === null || v === undefined) continue;
    switch (kind) {
      case 'int':
        a.intSum += BigInt(v);
        break;
      case 'bool':
        if (v) a.intSum += 1n;
        break;
      case 'float': {
        const x = Number(v);
        a.sum += x;
        a.abs += Math.abs(x);
        break;
      }
      case 'string':
        a.bytes += Buffer.byteLength(v, 'utf8');
        break;
      case 'list':
        visit(v, name + '[]', accs);
        break;
    }
  }
}

// ensureChildren creates empty accumulators for list children that no row
// reached (every list null or empty), so their zero counts are compared too.
function ensureChildren(field, name, accs) {
  if (!accs.has(name)) accs.set(name, newAcc());
  if (DataType.isList(field.type) || DataType.isFixedSizeList(field.type)) {
    ensureChildren(field.type.children[0], name + '[]', accs);
  }
}

function checkFile(f) {
  const diffs = [];
  const buf = readFileSync(f.path);
  const format = buf.subarray(0, 6).toString('latin1') === 'ARROW1' ? 'file' : 'stream';
  if (format !== f.format) diffs.push(`format got=${format} want=${f.format}`);
  const table = tableFromIPC(buf);
  const batches = table.batches.filter((b) => !(b instanceof Placeholder));
  if (batches.length !== f.batches) diffs.push(`batches got=${batches.length} want=${f.batches}`);
  if (table.numRows !== f.rows) diffs.push(`rows got=${table.numRows} want=${f.rows}`);

  const md = table.schema.metadata;
  const gotKeys = [...md.keys()].sort().join(',');
  const wantKeys = [...f.metadata_keys].sort().join(',');
  if (gotKeys !== wantKeys) diffs.push(`metadata keys got=[${gotKeys}] want=[${wantKeys}]`);
  for (const [k, v] of Object.entries(f.metadata || {})) {
    if (md.get(k) !== v) diffs.push(`metadata ${k} got=${JSON.stringify(md.get(k))} want=${JSON.stringify(v)}`);
  }

  const fields = table.schema.fields;
  const top = f.columns.filter((c) => !c.name.endsWith('[]')).map((c) => c.name);
  const names = fields.map((x) => x.name);
  if (names.join(',') !== top.join(',')) diffs.push(`columns got=[${names}] want=[${top}]`);

  const accs = new Map();
  fields.forEach((field) => ensureChildren(field, field.name, accs));
  for (const batch of batches) {
    fields.forEach((field, j) => visit(batch.getChildAt(j), field.name, accs));
  }
  for (const [name, a] of accs) {
    const m = f.columns.find((c) => c.name === name);
    if (!m) {
      diffs.push(`column ${name}: not in manifest`);
      continue;
    }
    for (const k of ['values', 'nulls']) {
      if (a[k] !== m[k]) diffs.push(`column ${name}: ${k} got=${a[k]} want=${m[k]}`);
    }
    switch (m.kind) {
      case 'int':
      case 'bool':
        if (a.intSum !== BigInt(m.int_sum)) diffs.push(`column ${name}: int_sum got=${a.intSum} want=${m.int_sum}`);
        break;
      case 'float': {
        const want = parseFloatField(m.sum);
        const absWant = parseFloatField(m.abs_sum);
        if (!closeEnough(a.sum, want, absWant)) diffs.push(`column ${name}: sum got=${a.sum} want=${want}`);
        if (!closeEnough(a.abs, absWant, absWant)) diffs.push(`column ${name}: abs_sum got=${a.abs} want=${absWant}`);
        break;
      }
      case 'string':
        if (a.bytes !== m.bytes) diffs.push(`column ${name}: bytes got=${a.bytes} want=${m.bytes}`);
        break;
    }
  }
  for (const c of f.columns) {
    if (!accs.has(c.name)) diffs.push(`column ${c.name}: missing`);
  }
  return diffs;
}

function main(argv) {
  if (argv.length !== 1) {
    console.error('usage: node check_arrowjs.mjs MANIFEST.json');
    return 2;
  }
  const manifest = JSON.parse(readFileSync(argv[0], 'utf8'));
  if (!manifest.files || manifest.files.length === 0) {
    console.error(`check_arrowjs: ${argv[0]}: manifest lists no files`);
    return 2;
  }
  let passed = 0;
  let failed = 0;
  for (const f of manifest.files) {
    let diffs;
    try {
      diffs = checkFile(f);
    } catch (e) {
      diffs = [`read error: ${String(e.message || e).split('\n')[0]}`];
    }
    // A mutated manifest (mutate_manifest.mjs) names its one change.
    const label = f.mutation ? `${f.path} [${f.mutation}]` : f.path;
    if (diffs.length === 0) {
      console.log(`ok ${label} rows=${f.rows}`);
      passed++;
    } else {
      console.log(`FAIL ${label}: ${diffs.join('; ')}`);
      failed++;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
