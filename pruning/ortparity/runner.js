// Runs an ONNX model in onnxruntime-node for fleetprune's parity tests and benchmarks.
// Reads one JSON request on stdin:
//   {"ort": "<dir of onnxruntime-node>", "mode": "run"|"load", "model": "<path>",
//    "threads": n, "warmup": w, "iters": k,
//    "inputs": [{"name", "shape", "file"}], "outDir": "<dir>"}
// Inputs and outputs are raw little-endian float32 files. Prints one JSON reply:
//   {"inputs": [names], "outputs": [{"name", "shape", "file"}], "latenciesMs": [...]}
// or {"error": "..."} with exit status 1.
'use strict';
const fs = require('fs');
const path = require('path');

function fail(msg) {
  process.stdout.write(JSON.stringify({ error: String(msg) }) + '\n');
  process.exit(1);
}

function readRequest() {
  const text = fs.readFileSync(0, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    fail('bad request: ' + e.message);
  }
}

function readF32(file, shape) {
  const buf = fs.readFileSync(file);
  const n = shape.reduce((a, b) => a * b, 1);
  if (buf.length !== 4 * n) fail(`input ${file}: ${buf.length} bytes, shape [${shape}] needs ${4 * n}`);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(4 * i);
  return out;
}

async function main() {
  const req = readRequest();
  let ort;
  try {
    ort = require(req.ort);
  } catch (e) {
    fail('cannot load onnxruntime-node from ' + req.ort + ': ' + e.message);
  }
  const threads = req.threads > 0 ? req.threads : 1;
  const session = await ort.InferenceSession.create(req.model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const reply = { inputs: session.inputNames, outputs: [] };
  if (req.mode === 'load') {
    reply.outputs = session.outputNames.map((name) => ({ name }));
    process.stdout.write(JSON.stringify(reply) + '\n');
    return;
  }
  const feeds = {};
  for (const inp of req.inputs || []) {
    feeds[inp.name] = new ort.Tensor('float32', readF32(inp.file, inp.shape), inp.shape);
  }
  let result;
  for (let i = 0; i < (req.warmup || 0); i++) await session.run(feeds);
  const lat = [];
  const iters = Math.max(1, req.iters || 1);
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    result = await session.run(feeds);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  if (req.iters > 0) reply.latenciesMs = lat;
  session.outputNames.forEach((name, i) => {
    const t = result[name];
    if (t.type !== 'float32') fail(`output ${name} has type ${t.type}, want float32`);
    const file = path.join(req.outDir, `out${i}.f32`);
    const buf = Buffer.alloc(4 * t.data.length);
    for (let j = 0; j < t.data.length; j++) buf.writeFloatLE(t.data[j], 4 * j);
    fs.writeFileSync(file, buf);
    reply.outputs.push({ name, shape: t.dims.map(Number), file });
  });
  process.stdout.write(JSON.stringify(reply) + '\n');
}

main().catch((e) => fail(e && e.message ? e.message : e));
