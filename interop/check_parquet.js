// check_parquet.js: an independent parquet reader and writer (nodejs-polars,
// Rust) for the parquet fixtures of pkg/prefdata/testdata/import.
//
// Usage:
//   node interop/check_parquet.js read FILE.parquet         prints each row as one JSON object
//   node interop/check_parquet.js write IN.jsonl OUT.parquet [COLUMN...]
//                                          writes the JSON lines as parquet, without the named
//                                          columns (parquet cannot hold an empty struct, such as
//                                          summarize_from_feedback's "extra": {})
//
// "read" proves that a fixture written by Go (Arrow Go's pqarrow) has the
// schema a standard reader sees (list<struct<content, role>> message lists);
// "write" makes fixtures with another implementation's writer (large_string
// and large_list columns), which the Go reader must read like the hub's files.
// Exits 1 on an error, 2 on a usage error.
'use strict';

const fs = require('fs');
const pl = require('nodejs-polars');

function main(argv) {
  if (argv[0] === 'read' && argv.length === 2) {
    const df = pl.readParquet(argv[1]);
    for (const r of df.toRecords()) {
      process.stdout.write(JSON.stringify(r) + '\n');
    }
    return 0;
  }
  if (argv[0] === 'write' && argv.length >= 3) {
    let df = pl.readJSON(fs.readFileSync(argv[1]), { format: 'lines' });
    if (argv.length > 3) {
      df = df.drop(...argv.slice(3));
    }
    df.writeParquet(argv[2]);
    return 0;
  }
  process.stderr.write('usage: node check_parquet.js read FILE.parquet | write IN.jsonl OUT.parquet [COLUMN...]\n');
  return 2;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`check_parquet: ${e.message}\n`);
  process.exitCode = 1;
}
