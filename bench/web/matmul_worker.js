// The float32 matrix-multiply ceiling of onnxruntime-web's WASM backend in this browser: a graph of
// MatMuls only (/files/<model>, input "x", FLOPs given by the page) run `n` times after 3 warm-ups.
// Its best GFLOP/s bounds what any decoder graph can reach with the same threads.
import * as ort from '/ortjs/ort.wasm.min.mjs';

self.onmessage = async (e) => {
  const { model, threads, n, rows, cols } = e.data;
  try {
    ort.env.wasm.wasmPaths = '/ort/';
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.proxy = false;
    const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const x = new ort.Tensor('float32', Float32Array.from({ length: rows * cols }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5), [rows, cols]);
    for (let i = 0; i < 3; i++) await session.run({ x });
    const runTimes = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const out = await session.run({ x });
      runTimes.push(performance.now() - t);
      for (const v of Object.values(out)) v.dispose();
    }
    self.postMessage({ runTimes, threads: ort.env.wasm.numThreads, crossOriginIsolated: self.crossOriginIsolated });
  } catch (err) {
    self.postMessage({ error: String(err && err.stack || err) });
  }
};
