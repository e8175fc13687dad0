/// <reference types="vitest/config" />
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const require = createRequire(import.meta.url);

/** Where the app is mounted by Django (dist/ is served under this prefix). */
export const BASE = '/static/app/';
/** Sub-folder of dist/ (and of BASE) that holds onnxruntime-web's WASM runtime. */
export const ORT_DIR = 'ort';

// The WASM backend (SIMD + threads) needs exactly this loader and this binary.
// ort.wasm.min.mjs (the "extern wasm" build) dynamically imports the loader from
// ort.env.wasm.wasmPaths, which the loader then uses to fetch the .wasm.
export const ORT_RUNTIME_FILES = [
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
  // privacy mode (encoder.worker.ts): ort.webgpu.min.mjs loads the asyncify build, only when WebGPU is used
  'ort-wasm-simd-threaded.asyncify.mjs',
  'ort-wasm-simd-threaded.asyncify.wasm',
];

const ortDist = dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));

/**
 * Copies onnxruntime-web's WASM runtime into dist/ort/ byte for byte (never
 * transformed by the bundler) and serves the same files in `vite dev`.
 */
function ortRuntime(): Plugin {
  return {
    name: 'kdsam-ort-runtime',
    generateBundle() {
      for (const file of ORT_RUNTIME_FILES) {
        this.emitFile({
          type: 'asset',
          fileName: `${ORT_DIR}/${file}`,
          source: readFileSync(join(ortDist, file)),
        });
      }
    },
    configureServer(server) {
      const prefix = `${BASE}${ORT_DIR}/`;
      server.middlewares.use((req, res, next) => {
        const url = (req.url ?? '').split('?')[0];
        if (!url.startsWith(prefix)) return next();
        const file = url.slice(prefix.length);
        if (!ORT_RUNTIME_FILES.includes(file) || !existsSync(join(ortDist, file))) return next();
        res.setHeader(
          'Content-Type',
          file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript; charset=utf-8',
        );
        createReadStream(join(ortDist, file)).pipe(res);
      });
    },
  };
}

// Same headers as the Django server, so SharedArrayBuffer (WASM threads) works in dev too.
const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

const backend = process.env.KDSAM_BACKEND ?? 'http://127.0.0.1:8000';

export default defineConfig({
  base: BASE,
  resolve: {
    alias: [
      // Use the build of ort that does NOT embed the emscripten loader: the loader and
      // the .wasm are always fetched from ort.env.wasm.wasmPaths (= /static/app/ort/),
      // so the bundler can neither inline nor mangle them, and no 14 MB duplicate
      // .wasm is emitted into assets/.
      { find: /^onnxruntime-web\/wasm$/, replacement: join(ortDist, 'ort.wasm.min.mjs') },
      // privacy mode: the WebGPU build, imported dynamically by encoder.worker.ts only when WebGPU exists
      { find: /^onnxruntime-web\/webgpu$/, replacement: join(ortDist, 'ort.webgpu.min.mjs') },
    ],
  },
  plugins: [ortRuntime()],
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    sourcemap: true,
    rollupOptions: {
      input: {
        index: join(dirname(fileURLToPath(import.meta.url)), 'index.html'),
        studio: join(dirname(fileURLToPath(import.meta.url)), 'studio.html'),
      },
    },
  },
  server: {
    headers: isolationHeaders,
    proxy: {
      '/api': backend,
      '/models': backend,
      '/accounts': backend,
      '/ws': { target: backend.replace(/^http/, 'ws'), ws: true },
    },
  },
  preview: { headers: isolationHeaders },
  test: {
    include: ['tests/**/*.test.ts', 'src/**/*.test.ts'],
    environment: 'node',
  },
});
