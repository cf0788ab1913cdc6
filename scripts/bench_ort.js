// ONNX Runtime side of `go run ./bench/engine`: times inference of ONNX files written
// by fleetprune in onnxruntime-node (CPU), on request.
//
//   node scripts/bench_ort.js --ort <dir of onnxruntime-node> [--threads 2] [--spin 0|1]
//
// It reads one JSON request per line on stdin and answers one JSON line on stdout, so
// the Go bench can interleave its own measurements with ORT's in one invocation:
//   request: {"model": "/tmp/x/lenet-5.onnx", "batch": 64, "warmup": 5, "runs": 20}
//   answer:  {"ok": true, "times_ns": [...]}   or   {"ok": false, "error": "..."}
// Sessions are cached per model path with intraOpNumThreads = --threads,
// interOpNumThreads 1, sequential execution, all graph optimizations, and intra-op
// thread spinning off unless --spin 1: ORT's idle threads otherwise keep spinning after
// a run and take the CPU from the engine measured next. Inputs are random N×1×28×28
// float32 tensors fed to the model's first input.
'use strict';
const readline = require('readline');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function main() {
  const ortDir = arg('--ort', '');
  const threads = parseInt(arg('--threads', '2'), 10);
  const spin = arg('--spin', '0');
  if (!ortDir) {
    reply({ ok: false, error: 'missing --ort <dir of onnxruntime-node>' });
    process.exit(2);
  }
  if (spin !== '0' && spin !== '1') {
    reply({ ok: false, error: `bad --spin ${spin}: want 0 or 1` });
    process.exit(2);
  }
  if (!(threads >= 1)) {
    reply({ ok: false, error: `bad --threads ${arg('--threads', '')}` });
    process.exit(2);
  }
  let ort;
  try {
    ort = require(ortDir);
  } catch (e) {
    reply({ ok: false, error: `cannot load onnxruntime-node from ${ortDir}: ${e.message}` });
    process.exit(2);
  }
  const sessions = new Map();
  async function session(model) {
    if (!sessions.has(model)) {
      sessions.set(model, await ort.InferenceSession.create(model, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
      }));
    }
    return sessions.get(model);
  }
  let version = 'unknown';
  try {
    version = require(ortDir + '/package.json').version;
  } catch (e) { /* version is informative only */ }
  reply({ ok: true, ready: true, ort: version, threads, spin });

  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    if (!line.trim()) continue;
    try {
      const req = JSON.parse(line);
      const batch = req.batch | 0;
      const runs = req.runs | 0;
      const warmup = req.warmup | 0;
      if (batch < 1 || runs < 1 || warmup < 0) throw new Error(`bad batch/runs/warmup ${req.batch}/${req.runs}/${req.warmup}`);
      const s = await session(req.model);
      const n = batch * 28 * 28;
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = Math.random() * 2 - 1;
      const feeds = { [s.inputNames[0]]: new ort.Tensor('float32', data, [batch, 1, 28, 28]) };
      const times = [];
      for (let i = 0; i < warmup + runs; i++) {
        const t0 = process.hrtime.bigint();
        await s.run(feeds);
        const t1 = process.hrtime.bigint();
        if (i >= warmup) times.push(Number(t1 - t0));
      }
      reply({ ok: true, times_ns: times });
    } catch (e) {
      reply({ ok: false, error: String(e && e.message ? e.message : e) });
    }
  }
}

main();
