#!/usr/bin/env node
// An Open Inference Protocol v2 gRPC client written from an independent oip.proto: checks that an
// OIP server (here `sidecar serve iris_classifier:latest`) answers health, metadata and
// inference the way the protocol says, and that its predictions match a CSV oracle.
//
// usage: node client.js --target 127.0.0.1:PORT [--model iris_classifier] [--api classify]
//          [--model-input input] --csv iris.csv --expected expected_predictions.csv
//
// Prints one PASS/FAIL line per check, then `N passed, M failed`; exits 1 on any failure,
// 2 on bad usage or unreadable files.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const DATATYPES = new Set(['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16',
  'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES', 'BF16']);
const PROB_TOLERANCE = 1e-5;
const CALL_TIMEOUT_MS = 30000;

function usage(message) {
  console.error(`client.js: ${message}`);
  console.error('usage: node client.js --target HOST:PORT [--model NAME] [--api NAME]'
    + ' [--model-input NAME] --csv FILE --expected FILE');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { model: 'iris_classifier', api: 'classify', modelInput: 'input' };
  const names = { '--target': 'target', '--model': 'model', '--api': 'api',
    '--model-input': 'modelInput', '--csv': 'csv', '--expected': 'expected' };
  for (let i = 0; i < argv.length; i++) {
    const key = names[argv[i]];
    if (!key) usage(`unknown argument '${argv[i]}'`);
    if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
    opts[key] = argv[++i];
  }
  for (const required of ['target', 'csv', 'expected']) {
    if (!opts[required]) usage(`--${required} is required`);
  }
  return opts;
}

/** A headed CSV of plain (unquoted) fields: { header: [...], rows: [[...], ...] }. */
function readCsv(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    usage(`cannot read ${file}: ${e.message}`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines[0].split(',').map((s) => s.trim());
  const rows = lines.slice(1).map((l, i) => {
    const fields = l.split(',').map((s) => s.trim());
    if (fields.length !== header.length) {
      usage(`${file} line ${i + 2}: ${fields.length} fields, header has ${header.length}`);
    }
    return fields;
  });
  return { header, rows };
}

/**
 * The iris table: the float feature columns by name, and the class names in order of first
 * appearance in the species column (setosa, versicolor, virginica = 0, 1, 2).
 */
function loadFeatures(file) {
  const { header, rows } = readCsv(file);
  const features = header.filter((h) => h !== 'species');
  const columns = {};
  for (const name of features) {
    const idx = header.indexOf(name);
    columns[name] = Float32Array.from(rows, (r) => Number(r[idx]));
  }
  const speciesIdx = header.indexOf('species');
  const classes = [];
  if (speciesIdx >= 0) {
    for (const r of rows) if (!classes.includes(r[speciesIdx])) classes.push(r[speciesIdx]);
  }
  return { n: rows.length, features, columns, classes };
}

/** The oracle: integer labels and an [N, k] probability matrix (row-major). */
function loadExpected(file) {
  const { header, rows } = readCsv(file);
  const labelIdx = header.indexOf('label');
  if (labelIdx < 0) usage(`${file} has no 'label' column`);
  const probCols = header.map((h, i) => i).filter((i) => i !== labelIdx);
  return {
    n: rows.length,
    k: probCols.length,
    labels: rows.map((r) => Number(r[labelIdx])),
    probs: Float64Array.from(rows.flatMap((r) => probCols.map((i) => Number(r[i])))),
  };
}

// ---------------------------------------------------------------------------------------------
// Checks

const results = { passed: 0, failed: 0 };

function check(name, ok, detail) {
  if (ok) {
    results.passed++;
    console.log(`PASS ${name}`);
  } else {
    results.failed++;
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`);
  }
  return ok;
}

/** Runs one step; an exception (e.g. a gRPC error) fails it instead of ending the run. */
async function step(name, fn) {
  try {
    return await fn();
  } catch (e) {
    check(name, false, describeError(e));
    return undefined;
  }
}

function describeError(e) {
  if (e && typeof e.code === 'number' && grpc.status[e.code]) {
    return `gRPC ${grpc.status[e.code]}: ${e.details}`;
  }
  return e && e.stack ? e.stack : String(e);
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + CALL_TIMEOUT_MS },
      (err, response) => (err ? reject(err) : resolve(response)));
  });
}

/** Calls a method that must fail; resolves to the gRPC error, rejects if it succeeded. */
function unaryError(client, method, request) {
  return unary(client, method, request).then(
    (response) => { throw new Error(`expected an error, got ${JSON.stringify(response).slice(0, 300)}`); },
    (err) => err);
}

// ---------------------------------------------------------------------------------------------
// Tensors

const shapeStr = (s) => `[${s.join(', ')}]`;
const product = (s) => s.reduce((a, b) => a * b, 1);

/** Problems with one TensorMetadata entry (empty when it is well formed). */
function tensorMetadataProblems(t) {
  const problems = [];
  if (!t.name) problems.push('empty name');
  if (!DATATYPES.has(t.datatype)) problems.push(`datatype '${t.datatype}' is not an OIP datatype`);
  if (t.shape.length === 0) problems.push('empty shape');
  if (t.shape.some((d) => d < -1)) problems.push(`bad dimension in ${shapeStr(t.shape)}`);
  return problems.map((p) => `${t.name || '?'}: ${p}`);
}

/**
 * The request tensors for the inputs a model's metadata lists, filled from the CSV: an input of
 * shape [-1] or [-1, 1] takes the CSV column of its name; one of shape [-1, k] takes the k
 * feature columns in CSV order. Throws, naming the input, when neither applies.
 */
function inputsFromMetadata(metaInputs, table) {
  return metaInputs.map((t) => {
    if (t.datatype !== 'FP32') {
      throw new Error(`input '${t.name}' is ${t.datatype}; this client only sends FP32 columns`);
    }
    const width = t.shape.length === 1 ? 1 : t.shape[1];
    if (t.shape.length > 2 || (t.shape[0] !== -1 && t.shape[0] !== table.n)) {
      throw new Error(`input '${t.name}' has shape ${shapeStr(t.shape)}; expected [-1] or [-1, k]`);
    }
    if (width === 1) {
      const column = table.columns[t.name];
      if (!column) {
        throw new Error(`input '${t.name}' is not a column of the CSV (${table.features.join(', ')})`);
      }
      return { name: t.name, datatype: 'FP32', shape: t.shape.length === 1 ? [table.n] : [table.n, 1],
        values: column };
    }
    if (width !== table.features.length) {
      throw new Error(`input '${t.name}' has ${width} columns; the CSV has ${table.features.length}`
        + ' feature columns');
    }
    return { name: t.name, datatype: 'FP32', shape: [table.n, width], values: packRows(table) };
  });
}

/** All feature columns as one row-major [N, k] float32 matrix. */
function packRows(table) {
  const k = table.features.length;
  const out = new Float32Array(table.n * k);
  table.features.forEach((name, j) => {
    const col = table.columns[name];
    for (let i = 0; i < table.n; i++) out[i * k + j] = col[i];
  });
  return out;
}

function float32LE(values) {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf;
}

/** A ModelInferRequest carrying the tensors in typed `contents` (fp32_contents). */
function typedRequest(model, id, tensors, outputs = []) {
  return {
    model_name: model,
    id,
    inputs: tensors.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape,
      contents: { fp32_contents: Array.from(t.values) } })),
    outputs: outputs.map((name) => ({ name })),
  };
}

/** A ModelInferRequest carrying the tensors in `raw_input_contents` (little-endian float32). */
function rawRequest(model, id, tensors, outputs = []) {
  return {
    model_name: model,
    id,
    inputs: tensors.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
    raw_input_contents: tensors.map((t) => float32LE(t.values)),
    outputs: outputs.map((name) => ({ name })),
  };
}

const RAW_SIZES = { BOOL: 1, UINT8: 1, INT8: 1, UINT16: 2, INT16: 2, FP16: 2, BF16: 2,
  UINT32: 4, INT32: 4, FP32: 4, UINT64: 8, INT64: 8, FP64: 8 };

/** Decodes one raw output tensor into an array of numbers (or strings for BYTES). */
function decodeRaw(datatype, count, buf, name) {
  if (datatype === 'BYTES') {
    const out = [];
    let off = 0;
    while (off < buf.length) {
      if (off + 4 > buf.length) throw new Error(`output '${name}': truncated BYTES length at ${off}`);
      const len = buf.readUInt32LE(off);
      off += 4;
      if (off + len > buf.length) throw new Error(`output '${name}': BYTES element overruns the buffer`);
      out.push(buf.toString('utf8', off, off + len));
      off += len;
    }
    if (out.length !== count) {
      throw new Error(`output '${name}': ${out.length} BYTES elements, shape says ${count}`);
    }
    return out;
  }
  const size = RAW_SIZES[datatype];
  if (!size) throw new Error(`output '${name}': unsupported datatype ${datatype}`);
  if (buf.length !== count * size) {
    throw new Error(`output '${name}': ${buf.length} raw bytes, shape and ${datatype} need ${count * size}`);
  }
  const read = {
    BOOL: (o) => buf.readUInt8(o) !== 0, UINT8: (o) => buf.readUInt8(o), INT8: (o) => buf.readInt8(o),
    UINT16: (o) => buf.readUInt16LE(o), INT16: (o) => buf.readInt16LE(o),
    UINT32: (o) => buf.readUInt32LE(o), INT32: (o) => buf.readInt32LE(o),
    UINT64: (o) => Number(buf.readBigUInt64LE(o)), INT64: (o) => Number(buf.readBigInt64LE(o)),
    FP32: (o) => buf.readFloatLE(o), FP64: (o) => buf.readDoubleLE(o),
  }[datatype];
  if (!read) throw new Error(`output '${name}': cannot decode ${datatype} here`);
  return Array.from({ length: count }, (_, i) => read(i * size));
}

/** Decodes typed `contents` of one output tensor. */
function decodeTyped(datatype, count, contents, name) {
  const field = { BOOL: 'bool_contents', INT8: 'int_contents', INT16: 'int_contents',
    INT32: 'int_contents', UINT8: 'uint_contents', UINT16: 'uint_contents',
    UINT32: 'uint_contents', INT64: 'int64_contents', UINT64: 'uint64_contents',
    FP32: 'fp32_contents', FP64: 'fp64_contents', BYTES: 'bytes_contents' }[datatype];
  if (!field || !contents) throw new Error(`output '${name}': no contents for ${datatype}`);
  const values = contents[field].map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : Number(v)));
  if (values.length !== count) {
    throw new Error(`output '${name}': ${values.length} ${field}, shape says ${count}`);
  }
  return values;
}

/** The response's outputs by name: { datatype, shape, values, raw }. */
function decodeOutputs(response) {
  const raw = response.raw_output_contents;
  if (raw.length > 0 && raw.length !== response.outputs.length) {
    throw new Error(`${raw.length} raw_output_contents for ${response.outputs.length} outputs`);
  }
  const out = {};
  response.outputs.forEach((t, i) => {
    const count = product(t.shape);
    const values = raw.length > 0 ? decodeRaw(t.datatype, count, raw[i], t.name)
      : decodeTyped(t.datatype, count, t.contents, t.name);
    out[t.name] = { datatype: t.datatype, shape: t.shape, values, raw: raw.length > 0 };
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Comparing with the oracle

/** Which metadata outputs hold the label and the probabilities. */
function pickOutputs(metaOutputs, k) {
  const label = metaOutputs.find((t) => ['BYTES', 'INT64', 'INT32'].includes(t.datatype)
    && t.shape.length === 1);
  const probs = metaOutputs.find((t) => t.datatype === 'FP32' && t.shape.length === 2
    && t.shape[1] === k);
  if (!label || !probs) {
    throw new Error('metadata outputs have no label (BYTES/INT64 [-1]) and probabilities'
      + ` (FP32 [-1, ${k}]) tensor: ${JSON.stringify(metaOutputs)}`);
  }
  return { label: label.name, probs: probs.name };
}

/** Checks one inference answer against the metadata and the oracle. */
function checkAnswer(what, response, requestId, metaOutputs, expected, classes) {
  check(`${what}: response echoes id '${requestId}'`, response.id === requestId,
    `id is '${response.id}'`);
  check(`${what}: answer in raw_output_contents`, response.raw_output_contents.length > 0,
    'typed contents only');
  const outs = decodeOutputs(response);
  const names = Object.keys(outs);
  const wanted = metaOutputs.map((t) => t.name);
  check(`${what}: outputs are the metadata's (${wanted.join(', ')})`,
    names.length === wanted.length && wanted.every((n) => names.includes(n)),
    `got ${names.join(', ')}`);
  for (const t of metaOutputs) {
    const o = outs[t.name];
    if (!o) continue;
    check(`${what}: output '${t.name}' is ${t.datatype} like its metadata`, o.datatype === t.datatype,
      `got ${o.datatype}`);
  }
  const picked = pickOutputs(metaOutputs, expected.k);
  const label = outs[picked.label];
  const probs = outs[picked.probs];
  if (!check(`${what}: label and probability outputs present`, label && probs,
    `outputs: ${names.join(', ')}`)) {
    return;
  }
  check(`${what}: '${picked.label}' shape [${expected.n}]`,
    label.shape.length === 1 && label.shape[0] === expected.n, `got ${shapeStr(label.shape)}`);
  check(`${what}: '${picked.probs}' shape [${expected.n}, ${expected.k}]`,
    probs.shape.length === 2 && probs.shape[0] === expected.n && probs.shape[1] === expected.k,
    `got ${shapeStr(probs.shape)}`);

  const labelIndex = label.datatype === 'BYTES'
    ? label.values.map((s) => classes.indexOf(s))
    : label.values;
  const badLabels = [];
  for (let i = 0; i < expected.n; i++) {
    if (labelIndex[i] !== expected.labels[i]) {
      badLabels.push(`row ${i}: got ${JSON.stringify(label.values[i])}, expected ${expected.labels[i]}`
        + ` (${classes[expected.labels[i]]})`);
    }
  }
  check(`${what}: ${expected.n} labels match expected_predictions`, badLabels.length === 0,
    `${badLabels.length} differ, e.g. ${badLabels.slice(0, 3).join('; ')}`);

  const badProbs = [];
  let maxDiff = 0;
  for (let i = 0; i < expected.n * expected.k; i++) {
    const diff = Math.abs(probs.values[i] - expected.probs[i]);
    if (!(diff <= PROB_TOLERANCE)) {
      badProbs.push(`[${Math.floor(i / expected.k)}, ${i % expected.k}]: got ${probs.values[i]},`
        + ` expected ${expected.probs[i]}`);
    }
    maxDiff = Math.max(maxDiff, diff);
  }
  check(`${what}: ${expected.n}x${expected.k} probabilities within ${PROB_TOLERANCE}`
    + ` (max diff ${maxDiff.toExponential(2)})`, badProbs.length === 0,
  `${badProbs.length} differ, e.g. ${badProbs.slice(0, 3).join('; ')}`);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const table = loadFeatures(opts.csv);
  const expected = loadExpected(opts.expected);
  if (table.n !== expected.n) usage(`${opts.csv} has ${table.n} rows, ${opts.expected} ${expected.n}`);
  if (table.classes.length !== expected.k) {
    usage(`${opts.csv} has ${table.classes.length} species, ${opts.expected} ${expected.k} probabilities`);
  }

  const definition = protoLoader.loadSync(path.join(__dirname, 'oip.proto'), {
    keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
  });
  const inference = grpc.loadPackageDefinition(definition).inference;
  const client = new inference.GRPCInferenceService(opts.target, grpc.credentials.createInsecure());
  console.log(`OIP client (own oip.proto, @grpc/grpc-js ${require('@grpc/grpc-js/package.json').version})`
    + ` -> ${opts.target}, model '${opts.model}', API '${opts.api}'`);

  await step('ServerLive', async () => {
    const r = await unary(client, 'ServerLive', {});
    check('ServerLive: live', r.live === true, JSON.stringify(r));
  });
  await step('ServerReady', async () => {
    const r = await unary(client, 'ServerReady', {});
    check('ServerReady: ready', r.ready === true, JSON.stringify(r));
  });
  await step('ServerMetadata', async () => {
    const r = await unary(client, 'ServerMetadata', {});
    check(`ServerMetadata: name and version ('${r.name}' ${r.version}, extensions [${r.extensions}])`,
      r.name !== '' && r.version !== '', JSON.stringify(r));
  });

  // Metadata, for the bare bundle name and for the API name.
  const metadata = {};
  for (const name of [opts.model, opts.api]) {
    await step(`ModelMetadata '${name}'`, async () => {
      const m = await unary(client, 'ModelMetadata', { name });
      const desc = (ts) => ts.map((t) => `${t.name} ${t.datatype} ${shapeStr(t.shape)}`).join(', ');
      console.log(`     '${name}' -> name '${m.name}', versions [${m.versions}], platform`
        + ` '${m.platform}'\n       inputs: ${desc(m.inputs)}\n       outputs: ${desc(m.outputs)}`);
      check(`ModelMetadata '${name}': name, versions and platform set`,
        m.name !== '' && m.versions.length > 0 && m.platform !== '',
        `name '${m.name}', versions [${m.versions}], platform '${m.platform}'`);
      check(`ModelMetadata '${name}': lists inputs (${m.inputs.length}) and outputs (${m.outputs.length})`,
        m.inputs.length > 0 && m.outputs.length > 0);
      const problems = [...m.inputs, ...m.outputs].flatMap(tensorMetadataProblems);
      check(`ModelMetadata '${name}': tensors well formed`, problems.length === 0, problems.join('; '));
      check(`ModelMetadata '${name}': first dimension variable (-1)`,
        [...m.inputs, ...m.outputs].every((t) => t.shape[0] === -1),
        desc([...m.inputs, ...m.outputs]));
      metadata[name] = m;
    });
  }
  const bare = metadata[opts.model];
  if (bare && bare.properties.apis) {
    // sidecar's own property: the bare bundle name means the bundle's first API.
    const first = bare.properties.apis.split(',')[0].trim();
    check(`ModelMetadata '${opts.model}' is the first API '${first}' (properties.apis ${bare.properties.apis})`,
      bare.name === first, `name '${bare.name}'`);
  }
  if (bare && metadata[opts.api] && bare.name === opts.api) {
    const same = (m) => JSON.stringify([m.inputs, m.outputs]);
    check(`ModelMetadata: '${opts.model}' and '${opts.api}' describe the same tensors`,
      same(bare) === same(metadata[opts.api]));
  }
  const meta = metadata[opts.model];
  if (!meta) {
    check(`ModelMetadata '${opts.model}' available, needed for inference`, false);
    return finish(client);
  }
  const version = meta.versions[0];

  await step('ModelReady with version', async () => {
    const r = await unary(client, 'ModelReady', { name: opts.model, version });
    check(`ModelReady '${opts.model}' version '${version}': ready`, r.ready === true, JSON.stringify(r));
  });
  await step('ModelMetadata with version', async () => {
    const r = await unary(client, 'ModelMetadata', { name: opts.api, version });
    check(`ModelMetadata '${opts.api}' version '${version}'`, r.versions.includes(version),
      `versions [${r.versions}]`);
  });
  await step('ModelMetadata unknown model', async () => {
    const e = await unaryError(client, 'ModelMetadata', { name: 'no_such_model' });
    check('ModelMetadata unknown model: NOT_FOUND naming it',
      e.code === grpc.status.NOT_FOUND && e.details.includes('no_such_model'), describeError(e));
  });

  const tensors = {};
  for (const name of [opts.model, opts.api]) {
    if (!metadata[name]) continue;
    await step(`request inputs for '${name}' from its metadata`, async () => {
      tensors[name] = inputsFromMetadata(metadata[name].inputs, table);
      check(`request inputs for '${name}' from its metadata: ${tensors[name]
        .map((t) => `${t.name} FP32 ${shapeStr(t.shape)}`).join(', ')}`, true);
    });
  }
  if (!tensors[opts.model]) return finish(client);

  await step('ModelInfer typed contents', async () => {
    const id = 'typed-contents';
    const r = await unary(client, 'ModelInfer', typedRequest(opts.model, id, tensors[opts.model]));
    checkAnswer(`ModelInfer '${opts.model}' typed fp32_contents`, r, id, meta.outputs, expected,
      table.classes);
  });
  if (tensors[opts.api]) {
    await step('ModelInfer raw contents', async () => {
      const id = 'raw-contents';
      const request = rawRequest(opts.api, id, tensors[opts.api]);
      request.model_version = version;
      const r = await unary(client, 'ModelInfer', request);
      check(`ModelInfer '${opts.api}' raw: model_version '${r.model_version}' is '${version}'`,
        r.model_version === version);
      checkAnswer(`ModelInfer '${opts.api}' raw_input_contents`, r, id, metadata[opts.api].outputs,
        expected, table.classes);
    });
  }

  const passThrough = [{ name: opts.modelInput, datatype: 'FP32', shape: [table.n, table.features.length],
    values: packRows(table) }];
  await step('ModelInfer pass-through raw', async () => {
    const id = 'pass-through-raw';
    const r = await unary(client, 'ModelInfer', rawRequest(opts.model, id, passThrough));
    checkAnswer(`ModelInfer '${opts.model}' model input '${opts.modelInput}' FP32`
      + ` ${shapeStr(passThrough[0].shape)} raw`, r, id, meta.outputs, expected, table.classes);
  });
  await step('ModelInfer pass-through typed', async () => {
    const id = 'pass-through-typed';
    const r = await unary(client, 'ModelInfer', typedRequest(opts.model, id, passThrough));
    checkAnswer(`ModelInfer '${opts.model}' model input '${opts.modelInput}' FP32`
      + ` ${shapeStr(passThrough[0].shape)} typed`, r, id, meta.outputs, expected, table.classes);
  });

  await step('ModelInfer requested output', async () => {
    const picked = pickOutputs(meta.outputs, expected.k);
    const r = await unary(client, 'ModelInfer', rawRequest(opts.model, 'one-output', tensors[opts.model],
      [picked.probs]));
    const names = r.outputs.map((t) => t.name);
    check(`ModelInfer requesting only '${picked.probs}': answers only it`,
      names.length === 1 && names[0] === picked.probs && r.raw_output_contents.length <= 1,
      `outputs: ${names.join(', ')}`);
  });

  await step('ModelInfer wrong datatype', async () => {
    const bad = tensors[opts.model][0];
    const request = typedRequest(opts.model, 'wrong-datatype', tensors[opts.model]);
    request.inputs[0] = { name: bad.name, datatype: 'FP64', shape: bad.shape,
      contents: { fp64_contents: Array.from(bad.values) } };
    const e = await unaryError(client, 'ModelInfer', request);
    console.log(`     -> ${describeError(e)}`);
    check(`ModelInfer with '${bad.name}' as FP64: INVALID_ARGUMENT naming '${bad.name}'`,
      e.code === grpc.status.INVALID_ARGUMENT && e.details.includes(bad.name), describeError(e));
  });

  return finish(client);
}

function finish(client) {
  client.close();
  console.log(`${results.passed} passed, ${results.failed} failed`);
  process.exitCode = results.failed === 0 && results.passed > 0 ? 0 : 1;
}

main().catch((e) => {
  console.error(`client.js: ${describeError(e)}`);
  process.exitCode = 1;
});
