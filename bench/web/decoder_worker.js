// Decoder latency in onnxruntime-web (WASM), per prompt: session.run over the prompts of
// /files/prompts.json on the float32 embedding /files/embedding.bin (shape in prompts.json).
// A low-res graph (no "masks" output) is followed by the app's JS upsampling of the mask
// (/files/mask-upsample.js, bundled from frontend/src/mask-upsample.ts), timed with the run.
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
    const lowResOnly = !session.outputNames.includes('masks');
    const { upsampleMasks } = lowResOnly ? await import('/files/mask-upsample.js') : {};
    const [origH, origW] = spec.original_size;
    const decode = async (p) => {
      const all = feeds(p);
      const inputs = Object.fromEntries(Object.entries(all).filter(([k]) => session.inputNames.includes(k)));
      const t = performance.now();
      const out = await session.run(inputs);
      const ran = performance.now();
      let m;
      if (lowResOnly) {
        const low = out.low_res_masks;
        m = upsampleMasks(low.data, low.dims[1], low.dims[2], low.dims[3], origH, origW);
      } else {
        m = out.masks.data;
      }
      return { m, runMs: ran - t, totalMs: performance.now() - t };
    };
    const prompts = spec.prompts.slice(0, n);
    for (const p of prompts.slice(0, 5)) await decode(p);  // warm-up
    const times = [];
    const runTimes = [];
    let positive = 0;
    for (const p of prompts) {
      const { m, runMs, totalMs } = await decode(p);
      times.push(totalMs);
      runTimes.push(runMs);
      positive += m[(m.length / 2) | 0] > 0 ? 1 : 0;
    }
    self.postMessage({ times, runTimes, createMs, threads: ort.env.wasm.numThreads, crossOriginIsolated: self.crossOriginIsolated,
                       hardwareConcurrency: self.navigator.hardwareConcurrency, positive, userAgent: self.navigator.userAgent });
  } catch (err) {
    self.postMessage({ error: String(err && err.stack || err) });
  }
};
