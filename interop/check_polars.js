// check_polars.js: read every Arrow IPC file listed in a manifest written by
// arrowsum (internal/arrowcheck) with nodejs-polars, an independent reader
// (Rust arrow, no Go code), and compare rows and per-column counts and
// checksums with the manifest.
//
// Usage: node interop/check_polars.js MANIFEST.json
//
// Prints "ok FILE rows=N" or "FAIL FILE: what differs" per file, then
// "N passed, M failed"; exits 1 if any file failed, 2 on a usage error.
//
// What is compared (see internal/arrowcheck/doc.go for the manifest):
//   format (from the "ARROW1" magic), rows, column names and order,
//   per column: values (slots), nulls, and
//     int    exact sum (BigInt)          float  sum within 1e-9·abs_sum, and abs_sum
//     bool   number of true values       string total UTF-8 bytes
//   list columns: the child "NAME[]" is the exploded non-null, non-empty lists.
// nodejs-polars has no schema-metadata API and does not expose record batches,
// so metadata keys and batch counts are checked by check_arrowjs.mjs only.
'use strict';

const fs = require('fs');
const pl = require('nodejs-polars');

// REL_TOL is the relative tolerance of float sums, as a fraction of Σ|x|:
// readers may add in a different order (polars sums in blocks), and each
// addition errs by at most 2^-53 of the running magnitude, so 1e-9 leaves
// room for ~10^7 values while still catching any changed value.
const REL_TOL = 1e-9;

// SAFE is 2^52: a polars integer sum whose Σ|x| stays below it was exact
// when converted to a JS number.
const SAFE = 2 ** 52;

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

// exactIntSum returns the sum of the non-null values of an integer or
// boolean series as a BigInt.
function exactIntSum(s) {
  if (s.len() === s.nullCount()) return 0n;
  const absSum = s.cast(pl.Float64).abs().sum();
  if (absSum < SAFE) return BigInt(s.cast(pl.Int64).sum());
  let total = 0n;
  for (const v of s.cast(pl.Utf8).toArray()) if (v !== null) total += BigInt(v);
  return total;
}

// children returns the elements of the non-null, non-empty lists of s.
function children(s) {
  let nn = s.filter(s.isNotNull());
  if (s.dtype.variant === 'FixedSizeList') {
    if (s.dtype.inner[1] === 0) nn = nn.head(0);
  } else {
    nn = nn.filter(nn.list.lengths().cast(pl.Float64).gt(0));
  }
  return nn.explode();
}

// checkColumn compares series s with the manifest column named name, and
// recurses into list children; differences are pushed onto diffs.
function checkColumn(s, name, cols, diffs) {
  const m = cols.get(name);
  if (!m) {
    diffs.push(`column ${name}: not in manifest`);
    return;
  }
  const got = { values: s.len(), nulls: s.nullCount() };
  for (const k of ['values', 'nulls']) {
    if (got[k] !== m[k]) diffs.push(`column ${name}: ${k} got=${got[k]} want=${m[k]}`);
  }
  switch (m.kind) {
    case 'int':
    case 'bool': {
      const sum = exactIntSum(m.kind === 'bool' ? s.cast(pl.Int64) : s);
      if (sum !== BigInt(m.int_sum)) diffs.push(`column ${name}: int_sum got=${sum} want=${m.int_sum}`);
      break;
    }
    case 'float': {
      const f = s.cast(pl.Float64);
      const want = parseFloatField(m.sum);
      const absWant = parseFloatField(m.abs_sum);
      const sum = s.len() === s.nullCount() ? 0 : f.sum();
      const abs = s.len() === s.nullCount() ? 0 : f.abs().sum();
      if (!closeEnough(sum, want, absWant)) diffs.push(`column ${name}: sum got=${sum} want=${want}`);
      if (!closeEnough(abs, absWant, absWant)) diffs.push(`column ${name}: abs_sum got=${abs} want=${absWant}`);
      break;
    }
    case 'string': {
      // Hex encoding doubles the UTF-8 byte length, inside polars.
      const hexLen = s.len() === s.nullCount() ? 0 : s.str.encode('hex').str.lengths().cast(pl.Float64).sum();
      if (hexLen / 2 !== m.bytes) diffs.push(`column ${name}: bytes got=${hexLen / 2} want=${m.bytes}`);
      break;
    }
    case 'list':
      checkColumn(children(s), name + '[]', cols, diffs);
      break;
  }
}

function checkFile(f) {
  const diffs = [];
  const buf = fs.readFileSync(f.path); // a Buffer: a path string would be parsed as IPC bytes
  const format = buf.subarray(0, 6).toString('latin1') === 'ARROW1' ? 'file' : 'stream';
  if (format !== f.format) diffs.push(`format got=${format} want=${f.format}`);
  const df = format === 'file' ? pl.readIPC(buf) : pl.readIPCStream(buf);
  if (df.height !== f.rows) diffs.push(`rows got=${df.height} want=${f.rows}`);
  const cols = new Map(f.columns.map((c) => [c.name, c]));
  const top = f.columns.filter((c) => !c.name.endsWith('[]')).map((c) => c.name);
  if (df.columns.join(',') !== top.join(',')) diffs.push(`columns got=[${df.columns}] want=[${top}]`);
  for (const name of df.columns) {
    if (cols.has(name)) checkColumn(df.getColumn(name), name, cols, diffs);
  }
  return diffs;
}

function main(argv) {
  if (argv.length !== 1) {
    console.error('usage: node check_polars.js MANIFEST.json');
    return 2;
  }
  const manifest = JSON.parse(fs.readFileSync(argv[0], 'utf8'));
  if (!manifest.files || manifest.files.length === 0) {
    console.error(`check_polars: ${argv[0]}: manifest lists no files`);
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
