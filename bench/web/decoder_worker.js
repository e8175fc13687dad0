// Decoder latency in onnxruntime-web (WASM), per prompt: session.run over the prompts of
// /files/prompts.json on the float32 embedding /files/embedding.bin (shape in prompts.json).
import * as ort from '/ortjs/ort.wasm.min.mjs';

self.onmessage = async (e) => {
  const { model, threads, n } = e.data;
  try {
    ort.env.wasm.wasmPaths = '/ort/';
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.proxy = false;
    const spec = await (await fetch('/files/prompts.json')).json();
    const emb = new Float32Array(await (await fetch('/files/embedding.bin')).arrayBuffer());
    const t0 = performance.now();
    const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const createMs = performance.now() - t0;
    const grid = spec.dims[3];
    const embedding = new ort.Tensor('float32', emb, spec.dims);
    const maskInput = new ort.Tensor('float32', new Float32Array(16 * grid * grid), [1, 1, 4 * grid, 4 * grid]);
    const hasMask = new ort.Tensor('float32', new Float32Array([0]), [1]);
    const size = new ort.Tensor('float32', new Float32Array(spec.original_size), [2]);
    const feeds = (p) => ({
      image_embeddings: embedding,
      point_coords: new ort.Tensor('float32', new Float32Array(p.coords.flat()), [1, p.coords.length, 2]),
      point_labels: new ort.Tensor('float32', new Float32Array(p.labels), [1, p.labels.length]),
      mask_input: maskInput, has_mask_input: hasMask, orig_im_size: size,
    });
    const prompts = spec.prompts.slice(0, n);
    for (const p of prompts.slice(0, 5)) await session.run(feeds(p));  // warm-up
    const times = [];
    let positive = 0;
    for (const p of prompts) {
      const t = performance.now();
      const out = await session.run(feeds(p));
      times.push(performance.now() - t);
      const m = out.masks.data;
      positive += m[(m.length / 2) | 0] > 0 ? 1 : 0;
    }
    self.postMessage({ times, createMs, threads: ort.env.wasm.numThreads, crossOriginIsolated: self.crossOriginIsolated,
                       hardwareConcurrency: self.navigator.hardwareConcurrency, positive, userAgent: self.navigator.userAgent });
  } catch (err) {
    self.postMessage({ error: String(err && err.stack || err) });
  }
};
