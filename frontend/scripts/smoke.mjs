#!/usr/bin/env node
/**
 * Smoke test of the BUILT app (dist/) in headless Chromium, against a tiny mock
 * of the Django API (docs/api.md). No server code is involved.
 *
 *   npm run build
 *   KDSAM_DECODER_ONNX=/path/to/decoder.onnx npm run smoke
 *
 * The mock serves dist/index.html at / and dist/ under /static/app/ with
 * COOP/COEP headers (like Django), answers /api/..., serves the decoder ONNX at
 * /models/1/decoder.onnx, and refuses websockets, so the app must fall back to
 * polling. It checks: cross-origin isolation, the random-weights banner, upload →
 * status → viewer ready, that onnxruntime-web loads its .mjs/.wasm from
 * /static/app/ort/ with no 404, clicks → masks (alpha > 0 on the mask, exactly 0
 * elsewhere), data-decode-count / data-last-prompt, Clear, and the server's
 * error message for a bad upload. With SMOKE_OUT=dir it writes the embedding,
 * the last prompt and the mask there for an offline comparison.
 *
 * Needs /usr/bin/chromium (apt-get install -y chromium) or CHROMIUM=path.
 */
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const decoderPath = process.env.KDSAM_DECODER_ONNX ?? process.argv[2];
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const outDir = process.env.SMOKE_OUT;

if (!existsSync(join(dist, 'index.html'))) fail('dist/index.html missing: run `npm run build` first');
if (!decoderPath || !existsSync(decoderPath)) {
  fail('set KDSAM_DECODER_ONNX to a SAM decoder ONNX file (e.g. from scripts/make_test_decoder.py)');
}

function fail(message) {
  console.error(`smoke: FAIL: ${message}`);
  process.exit(1);
}

// ---------------------------------------------------------------------------
// test data: a PNG and a KDEM embedding

const W = 622;
const H = 529;

function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function png(width, height, pixel) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    for (let x = 0; x < width; x++) raw.set(pixel(x, y), y * (width * 3 + 1) + 1 + x * 3);
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const imagePng = png(W, H, (x, y) =>
  (x - 300) ** 2 + (y - 260) ** 2 < 120 ** 2 ? [200, 60, 60] : [30 + (x % 50), 40, 60 + (y % 70)],
);

/** Embedding value i: a multiple of 1/64 in [-1, 1], exact in float16. */
export const embeddingValue = (i) => (((i * 7919) % 129) - 64) / 64;

function halfBits(v) {
  if (v === 0) return Object.is(v, -0) ? 0x8000 : 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const e = Math.floor(Math.log2(a));
  const m = Math.round((a / 2 ** e - 1) * 1024);
  return sign | ((e + 15) << 10) | m;
}

function kdem(imageSize, inputSize) {
  const n = 256 * 64 * 64;
  const payload = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) payload.writeUInt16LE(halfBits(embeddingValue(i)), i * 2);
  const header = Buffer.from(
    JSON.stringify({
      version: 1,
      dtype: 'float16',
      shape: [1, 256, 64, 64],
      encoding: 'raw',
      image_size: imageSize,
      input_size: inputSize,
      model_version: 1,
    }),
  );
  const len = Math.ceil(header.length / 8) * 8;
  const head = Buffer.alloc(8 + len, 0x20);
  head.write('KDEM', 0, 'ascii');
  head.writeUInt32LE(len, 4);
  header.copy(head, 8);
  return Buffer.concat([head, payload]);
}

const embedding = kdem([H, W], [871, 1024]);

// ---------------------------------------------------------------------------
// mock server

const BANNER = 'Random weights: KDSAM_WEIGHTS_DIR is not set, so the masks are meaningless.';
const model = {
  id: 1,
  name: 'kdsam-random-init',
  weights: 'random',
  banner: BANNER,
  decoder_onnx_url: '/models/1/decoder.onnx',
  decoder_sha256: '',
  image_size: 1024,
  mask_threshold: 0.0,
  parameters: { total: 1 },
};
const images = new Map();
let nextId = 1;
const requests = [];

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, {
    'Content-Type': type,
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
  });
  res.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
}

function error(res, status, code, message, field) {
  send(res, status, { error: { code, message, ...(field ? { field } : {}) } });
}

function readBody(req) {
  return new Promise((ok) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => ok(Buffer.concat(parts)));
  });
}

function imageObject(id, filename) {
  return {
    id,
    filename,
    width: W,
    height: H,
    status: 'queued',
    error: '',
    created_at: new Date().toISOString(),
    model_version: 1,
    file_url: `/api/images/${id}/file/`,
    embedding_url: `/api/images/${id}/embedding/`,
    sha256: '',
    queue_position: 1,
  };
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  res.on('finish', () => requests.push({ method: req.method, path, status: res.statusCode }));

  if (path === '/' || path === '/index.html') return send(res, 200, readFileSync(join(dist, 'index.html')), TYPES['.html']);
  if (path.startsWith('/static/app/')) {
    const file = normalize(join(dist, path.slice('/static/app/'.length)));
    if (!file.startsWith(dist) || !existsSync(file)) return send(res, 404, 'not found', 'text/plain');
    return send(res, 200, readFileSync(file), TYPES[extname(file)] ?? 'application/octet-stream');
  }
  if (path === '/models/1/decoder.onnx' || path === '/segmentation/decoders/1/decoder-multimask.onnx') {
    // the same file for both: the UI handles a single-output decoder (no candidates then)
    return send(res, 200, readFileSync(decoderPath), 'application/octet-stream');
  }
  if (path === '/api/models/') return send(res, 200, [model]);
  if (path === '/api/session/') return send(res, 200, { user: { username: 'smoke', is_staff: false } });
  if (path === '/api/models/active/') return send(res, 200, model);
  if (/^\/api\/images\/\d+\/masks\/$/.test(path) && req.method === 'GET') return send(res, 200, []);
  if (path === '/api/images/' && req.method === 'GET') return send(res, 200, [...images.values()].reverse());
  if (path === '/api/images/' && req.method === 'POST') {
    if (!req.headers['x-csrftoken']) return error(res, 403, 'csrf', 'CSRF token missing.');
    const body = (await readBody(req)).toString('latin1');
    const filename = /filename="([^"]*)"/.exec(body)?.[1] ?? 'upload';
    if (!body.includes('\x89PNG')) {
      return error(
        res,
        400,
        'invalid_image',
        `${filename} is not a PNG or JPEG image: cannot identify image file. Upload a PNG or JPEG file.`,
        'file',
      );
    }
    const img = imageObject(nextId++, filename);
    images.set(img.id, img);
    setTimeout(() => Object.assign(img, { status: 'embedding', queue_position: null }), 800);
    setTimeout(() => Object.assign(img, { status: 'ready' }), 1800);
    return send(res, 201, img);
  }
  const m = /^\/api\/images\/(\d+)\/(file\/|embedding\/)?$/.exec(path);
  if (m) {
    const img = images.get(Number(m[1]));
    if (!img) return error(res, 404, 'not_found', 'No such image.');
    if (!m[2]) return send(res, 200, img);
    if (m[2] === 'file/') return send(res, 200, imagePng, 'image/png');
    if (img.status !== 'ready') return error(res, 409, 'embedding_not_ready', 'The embedding is not ready yet.');
    return send(res, 200, embedding, 'application/x-kdsam-embedding');
  }
  return error(res, 404, 'not_found', `No route for ${path}`);
});
// No 'upgrade' handler: /ws/images/ cannot connect, the app has to poll.

await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;

// ---------------------------------------------------------------------------
// browser

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const checks = [];
const check = (ok, what) => {
  checks.push({ ok: !!ok, what });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
};
const consoleLines = [];
let exitCode = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addCookies([{ name: 'csrftoken', value: 'smoke-token', url: base }]);
  const page = await context.newPage();
  page.on('console', (msg) => consoleLines.push(`[${msg.type()}] ${msg.text()}`));
  page.on('pageerror', (err) => consoleLines.push(`[pageerror] ${err.message}`));
  await page.goto(`${base}/`);

  check(await page.evaluate(() => crossOriginIsolated), 'page is cross-origin isolated (COOP/COEP)');
  await page.locator('#weights-banner').waitFor({ state: 'visible', timeout: 10000 });
  check((await page.locator('#weights-banner').innerText()).includes(BANNER), '#weights-banner shows the server banner');
  check((await page.locator('#model-name').innerText()) === model.name, 'header shows the model name');

  // upload → status changes (by polling) → viewer ready
  const pngPath = join(outDir ?? '/tmp', 'smoke-image.png');
  writeFileSync(pngPath, imagePng);
  await page.locator('body[data-app-state="ready"]').waitFor({ state: 'attached', timeout: 10000 });
  await page.setInputFiles('#upload-input', pngPath);
  const item = page.locator('li.image-item[data-image-id="1"]');
  await item.waitFor({ timeout: 10000 });
  await page.locator('li.image-item[data-image-id="1"][data-status="ready"]').waitFor({ timeout: 15000 });
  check(true, 'uploaded image reaches data-status=ready through polling');
  await item.click();
  await page.locator('#viewer[data-image-id="1"][data-state="ready"]').waitFor({ timeout: 60000 });
  check(true, '#viewer reaches data-state=ready (embedding decoded, decoder session loaded)');

  const dims = await page.evaluate(() => {
    const a = document.querySelector('#image-canvas');
    const b = document.querySelector('#mask-overlay');
    const ra = a.getBoundingClientRect();
    const rb = b.getBoundingClientRect();
    return { a: [a.width, a.height], b: [b.width, b.height], ra: [ra.width, ra.height], rb: [rb.width, rb.height] };
  });
  check(dims.a[0] === W && dims.a[1] === H && dims.b[0] === W && dims.b[1] === H, `both canvases are ${W}x${H} (natural size)`);
  check(dims.ra[0] === dims.rb[0] && dims.ra[1] === dims.rb[1], 'both canvases have the same on-screen box');

  // clicks
  const overlay = page.locator('#mask-overlay');
  const box = await overlay.boundingBox();
  const at = (ix, iy) => ({ x: (ix * box.width) / W, y: (iy * box.height) / H });
  const t0 = Date.now();
  await overlay.click({ force: true, position: at(300, 260) });
  await page.locator('#viewer[data-decode-count="1"]').waitFor({ timeout: 30000 });
  const firstMs = Date.now() - t0;
  let prompt = JSON.parse(await page.locator('#viewer').getAttribute('data-last-prompt'));
  check(
    prompt.box === null && prompt.points.length === 1 && prompt.points[0][2] === 1 &&
      Math.abs(prompt.points[0][0] - 300) < 2 && Math.abs(prompt.points[0][1] - 260) < 2,
    `first click → decode-count 1, last-prompt ${JSON.stringify(prompt)} (${firstMs} ms incl. first run)`,
  );

  const readMask = () =>
    page.evaluate(() => {
      const c = document.querySelector('#mask-overlay');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const alphas = new Set();
      let on = 0;
      const bits = new Uint8Array(Math.ceil(d.length / 4 / 8));
      for (let i = 0; i < d.length / 4; i++) {
        alphas.add(d[i * 4 + 3]);
        if (d[i * 4 + 3] > 0) {
          on++;
          bits[i >> 3] |= 1 << (i & 7);
        }
      }
      let s = '';
      for (const b of bits) s += String.fromCharCode(b);
      return { alphas: [...alphas].sort((a, b) => a - b), on, total: d.length / 4, bits: btoa(s) };
    });
  let mask = await readMask();
  check(mask.alphas.every((a) => a === 0 || a === mask.alphas.at(-1)), `overlay alphas are 0 or the mask alpha: ${mask.alphas}`);
  console.log(`     mask covers ${mask.on} of ${mask.total} pixels`);

  await overlay.click({ force: true, position: at(100, 80), modifiers: ['Shift'] });
  await page.locator('#viewer[data-decode-count="2"]').waitFor({ timeout: 30000 });
  await overlay.click({ force: true, position: at(500, 450), button: 'right' });
  await page.locator('#viewer[data-decode-count="3"]').waitFor({ timeout: 30000 });
  prompt = JSON.parse(await page.locator('#viewer').getAttribute('data-last-prompt'));
  check(
    prompt.points.map((p) => p[2]).join(',') === '1,0,0',
    `shift+click and right click add negative points: ${JSON.stringify(prompt)}`,
  );
  mask = await readMask();

  // fast clicking: latest wins, no backlog
  for (const [x, y] of [[310, 250], [320, 270], [290, 255], [305, 265]]) await overlay.click({ force: true, position: at(x, y) });
  await page.waitForFunction(() => {
    const v = document.querySelector('#viewer');
    return JSON.parse(v.dataset.lastPrompt).points.length === 7;
  }, null, { timeout: 30000 });
  const count = Number(await page.locator('#viewer').getAttribute('data-decode-count'));
  check(count >= 4 && count <= 7, `4 fast clicks → the last prompt is decoded (decode-count ${count})`);
  if (outDir) {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'embedding.kdem'), embedding);
    const finalMask = await readMask();
    const finalPrompt = JSON.parse(await page.locator('#viewer').getAttribute('data-last-prompt'));
    writeFileSync(join(outDir, 'result.json'), JSON.stringify({ width: W, height: H, prompt: finalPrompt, mask: finalMask }));
  }

  await page.click('#clear-button');
  const cleared = await readMask();
  check(cleared.on === 0 && cleared.alphas.join() === '0', 'Clear empties the overlay');

  // bad upload → server message in #error-message
  const txt = join(outDir ?? '/tmp', 'photo.txt');
  writeFileSync(txt, 'not an image');
  await page.setInputFiles('#upload-input', txt);
  await page.locator('#error-message').waitFor({ state: 'visible', timeout: 10000 });
  const msg = await page.locator('#error-message').innerText();
  check(msg.includes('photo.txt is not a PNG or JPEG image'), `#error-message shows the server message: ${msg}`);

  // ort runtime files
  const ort = requests.filter((r) => r.path.startsWith('/static/app/ort/'));
  check(
    ort.some((r) => r.path === '/static/app/ort/ort-wasm-simd-threaded.mjs' && r.status === 200) &&
      ort.some((r) => r.path === '/static/app/ort/ort-wasm-simd-threaded.wasm' && r.status === 200),
    `ort loaded its runtime from /static/app/ort/: ${ort.map((r) => `${r.path} ${r.status}`).join(', ')}`,
  );
  const missing = requests.filter((r) => r.status === 404 && !r.path.startsWith('/ws/'));
  check(missing.length === 0, `no 404s (${missing.map((r) => r.path).join(', ') || 'none'})`);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const ready = consoleLines.find((l) => l.includes('KD-SAM decoder ready'));
  check(
    ready && ready.includes(`${Math.min(4, cores)} wasm thread(s)`),
    `decoder uses min(4, hardwareConcurrency=${cores}) wasm threads: ${ready}`,
  );
} catch (err) {
  check(false, `unexpected: ${err.message}`);
} finally {
  await browser.close();
  server.close();
}
if (checks.some((c) => !c.ok)) {
  exitCode = 1;
  console.log('--- browser console ---\n' + consoleLines.join('\n'));
}
const passed = checks.filter((c) => c.ok).length;
console.log(`smoke: ${passed} passed, ${checks.length - passed} failed`);
process.exit(exitCode);
