import { describe, expect, it } from 'vitest';
import {
  EmbeddingFormatError,
  assertDecoderEmbedding,
  decodeFloat16,
  halfToFloat,
  parseEmbedding,
} from '../src/embedding';
import numpyHalves from './fixtures/float16-numpy.json';
import { encodeKdem, uint16LE, validHeader } from './helpers/kdem';

describe('float16 decoding', () => {
  it.each([
    { hex: '0x0000', bits: 0x0000, value: 0 },
    { hex: '0x3c00', bits: 0x3c00, value: 1 },
    { hex: '0xbc00', bits: 0xbc00, value: -1 },
    { hex: '0x3800', bits: 0x3800, value: 0.5 },
    { hex: '0xc000', bits: 0xc000, value: -2 },
    { hex: '0x3555', bits: 0x3555, value: 0.333251953125 },
    { hex: '0x7bff', bits: 0x7bff, value: 65504 },
    { hex: '0xfbff', bits: 0xfbff, value: -65504 },
    { hex: '0x0400', bits: 0x0400, value: 2 ** -14 }, // smallest normal
    { hex: '0x0001', bits: 0x0001, value: 2 ** -24 }, // smallest subnormal
    { hex: '0x03ff', bits: 0x03ff, value: 1023 * 2 ** -24 }, // largest subnormal
    { hex: '0x8001', bits: 0x8001, value: -(2 ** -24) },
  ])('decodes $hex exactly', ({ bits, value }) => {
    expect(halfToFloat(bits)).toBe(value);
  });

  it('matches numpy float16 -> float32 bit for bit on 300+ patterns', () => {
    const decoded = decodeFloat16(Uint16Array.from(numpyHalves.half_bits));
    const bits = new Uint32Array(decoded.buffer);
    const mismatches = numpyHalves.half_bits.filter((_h, i) => {
      const want = numpyHalves.float32_bits[i];
      const isNaN = (want & 0x7f800000) === 0x7f800000 && (want & 0x7fffff) !== 0;
      return isNaN ? !Number.isNaN(decoded[i]) : bits[i] !== want;
    });
    expect(mismatches).toEqual([]);
  });

  it('keeps the sign of negative zero', () => {
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
    expect(Object.is(decodeFloat16(new Uint16Array([0x8000]))[0], -0)).toBe(true);
    expect(Object.is(halfToFloat(0x0000), 0)).toBe(true);
  });

  it('decodes infinities and NaNs', () => {
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0xfc00)).toBe(-Infinity);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect(halfToFloat(0x7c01)).toBeNaN();
    expect(halfToFloat(0xfe00)).toBeNaN();
  });

  it('gives the same values through the lookup table as bit by bit, for all 65536 patterns', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const table = decodeFloat16(all);
    const mismatches: string[] = [];
    for (let i = 0; i < 65536; i++) {
      const v = halfToFloat(i);
      const same = Number.isNaN(v) ? Number.isNaN(table[i]) : Object.is(table[i], v);
      if (!same) mismatches.push(`0x${i.toString(16)}: ${table[i]} != ${v}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('produces strictly increasing finite values for increasing positive bit patterns', () => {
    const bad: number[] = [];
    for (let i = 1; i <= 0x7bff; i++) if (!(halfToFloat(i) > halfToFloat(i - 1))) bad.push(i);
    expect(bad).toEqual([]);
    expect(halfToFloat(0x7c00)).toBeGreaterThan(halfToFloat(0x7bff));
  });
});

describe('KDEM parsing', () => {
  const values = [0x3c00, 0xbc00, 0x0000, 0x8000, 0x7bff, 0x0001, 0x3800, 0xc000];

  it('parses a float16 file: header fields, dims and decoded values', () => {
    const emb = parseEmbedding(encodeKdem(validHeader(), uint16LE(values)));
    expect(emb.header.version).toBe(1);
    expect(emb.header.dtype).toBe('float16');
    expect(emb.header.image_size).toEqual([529, 622]);
    expect(emb.header.input_size).toEqual([871, 1024]);
    expect(emb.header.model_version).toBe(3);
    expect(emb.dims).toEqual([1, 2, 2, 2]);
    expect(emb.data).toBeInstanceOf(Float32Array);
    expect(Array.from(emb.data)).toEqual([1, -1, 0, -0, 65504, 2 ** -24, 0.5, -2]);
  });

  it('reads the payload as little-endian', () => {
    const bytes = new Uint8Array(16);
    bytes.set([0x00, 0x3c, 0x00, 0xc0]); // 1.0, -2.0
    const emb = parseEmbedding(encodeKdem(validHeader(), bytes));
    expect(emb.data[0]).toBe(1);
    expect(emb.data[1]).toBe(-2);
  });

  it('parses a header padded with spaces to a payload that is not 2-byte aligned', () => {
    const emb = parseEmbedding(encodeKdem(validHeader(), uint16LE(values), { pad: 1 }));
    expect(Array.from(emb.data)).toEqual([1, -1, 0, -0, 65504, 2 ** -24, 0.5, -2]);
  });

  it('parses a float32 payload', () => {
    const f = new Float32Array([1.5, -2.25, 3, 4, 5, 6, 7, 8]);
    const emb = parseEmbedding(encodeKdem(validHeader({ dtype: 'float32' }), new Uint8Array(f.buffer)));
    expect(Array.from(emb.data)).toEqual(Array.from(f));
  });

  it('parses a full-size [1,256,64,64] embedding (2 MiB of float16)', () => {
    const n = 256 * 64 * 64;
    const halves = new Uint16Array(n).fill(0x3c00);
    const emb = parseEmbedding(
      encodeKdem(validHeader({ shape: [1, 256, 64, 64] }), new Uint8Array(halves.buffer)),
    );
    expect(emb.data.length).toBe(n);
    expect(emb.data[n - 1]).toBe(1);
    expect(() => assertDecoderEmbedding(emb, { width: 622, height: 529 })).not.toThrow();
  });

  it('rejects a bad magic', () => {
    const buf = new Uint8Array(encodeKdem(validHeader(), uint16LE(values)));
    buf[3] = 0x58; // "KDEX"
    expect(() => parseEmbedding(buf.buffer)).toThrow(/bad magic "KDEX"/);
  });

  it('rejects a file shorter than the fixed prefix', () => {
    expect(() => parseEmbedding(new Uint8Array([0x4b, 0x44]).buffer)).toThrow(EmbeddingFormatError);
  });

  it('rejects an unknown version', () => {
    expect(() => parseEmbedding(encodeKdem(validHeader({ version: 2 }), uint16LE(values)))).toThrow(
      /unsupported version 2/,
    );
  });

  it('rejects an unknown dtype', () => {
    expect(() => parseEmbedding(encodeKdem(validHeader({ dtype: 'bfloat16' }), uint16LE(values)))).toThrow(
      /unsupported dtype "bfloat16"/,
    );
  });

  it('rejects an unknown encoding', () => {
    expect(() => parseEmbedding(encodeKdem(validHeader({ encoding: 'zstd' }), uint16LE(values)))).toThrow(
      /unsupported encoding "zstd"/,
    );
  });

  it('rejects a truncated payload', () => {
    const buf = encodeKdem(validHeader(), uint16LE(values));
    expect(() => parseEmbedding(buf.slice(0, buf.byteLength - 1))).toThrow(/truncated payload.*needs 16 bytes, got 15/);
  });

  it('rejects a header length that runs past the end of the file', () => {
    const buf = new Uint8Array(encodeKdem(validHeader(), uint16LE(values)));
    new DataView(buf.buffer).setUint32(4, 1 << 20, true);
    expect(() => parseEmbedding(buf.buffer)).toThrow(/truncated header/);
  });

  it('rejects trailing bytes after the payload', () => {
    const payload = new Uint8Array(18);
    expect(() => parseEmbedding(encodeKdem(validHeader(), payload))).toThrow(/trailing bytes/);
  });

  it('rejects a header that is not JSON', () => {
    const buf = new Uint8Array(encodeKdem(validHeader(), uint16LE(values)));
    buf[8] = 0x7d; // '}'
    expect(() => parseEmbedding(buf.buffer)).toThrow(/not valid UTF-8 JSON/);
  });

  it('rejects missing or malformed image_size', () => {
    expect(() => parseEmbedding(encodeKdem(validHeader({ image_size: [529] }), uint16LE(values)))).toThrow(
      /image_size/,
    );
  });

  it('throws EmbeddingFormatError with a message that starts with "Invalid embedding"', () => {
    try {
      parseEmbedding(encodeKdem(validHeader({ dtype: 'int8' }), uint16LE(values)));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(EmbeddingFormatError);
      expect((err as Error).message).toMatch(/^Invalid embedding: /);
    }
  });

  it('refuses an embedding whose shape or image size the decoder cannot use', () => {
    const emb = parseEmbedding(encodeKdem(validHeader(), uint16LE(values)));
    expect(() => assertDecoderEmbedding(emb)).toThrow(/is not \[1,256,64,64\]/);
    const full = parseEmbedding(
      encodeKdem(validHeader({ shape: [1, 256, 64, 64] }), new Uint8Array(2 * 256 * 64 * 64)),
    );
    expect(() => assertDecoderEmbedding(full, { width: 100, height: 100 })).toThrow(/622x529 image/);
  });
});

describe('quant8 embeddings (the compact wire encoding)', () => {
  // 1 x 2 channels x 2 x 2: channel 0 min -1 step 0.5, channel 1 min 10 step 2
  function quantPayload(): Uint8Array {
    const out = new Uint8Array(16 + 8);
    const view = new DataView(out.buffer);
    view.setFloat32(0, -1, true);
    view.setFloat32(4, 10, true);
    view.setFloat32(8, 0.5, true);
    view.setFloat32(12, 2, true);
    out.set([0, 1, 2, 255, 0, 1, 2, 3], 16);
    return out;
  }
  const expected = [-1, -0.5, 0, 126.5, 10, 12, 14, 16];

  it('decodes min + step * code per channel', async () => {
    const { parseEmbedding } = await import('../src/embedding');
    const { encodeKdem, validHeader } = await import('./helpers/kdem');
    const emb = parseEmbedding(encodeKdem(validHeader({ dtype: 'uint8', encoding: 'quant8' }), quantPayload()));
    expect(Array.from(emb.data)).toEqual(expected);
  });

  it('inflates quant8-zlib (zlib as the server writes it) and rejects a corrupt stream', async () => {
    const { parseEmbeddingAsync, parseEmbedding } = await import('../src/embedding');
    const { encodeKdem, validHeader } = await import('./helpers/kdem');
    const { deflateSync } = await import('node:zlib');
    const buffer = encodeKdem(validHeader({ dtype: 'uint8', encoding: 'quant8-zlib' }), new Uint8Array(deflateSync(quantPayload())));
    expect(Array.from((await parseEmbeddingAsync(buffer)).data)).toEqual(expected);
    expect(() => parseEmbedding(buffer)).toThrow(/parseEmbeddingAsync/);
    const broken = encodeKdem(validHeader({ dtype: 'uint8', encoding: 'quant8-zlib' }), new Uint8Array([1, 2, 3, 4]));
    await expect(parseEmbeddingAsync(broken)).rejects.toThrow(/corrupt quant8-zlib/);
  });

  it('rejects uint8 with the raw encoding and a short quant8 payload', async () => {
    const { parseEmbedding } = await import('../src/embedding');
    const { encodeKdem, validHeader } = await import('./helpers/kdem');
    expect(() => parseEmbedding(encodeKdem(validHeader({ dtype: 'uint8', encoding: 'raw' }), new Uint8Array(8)))).toThrow(/does not go with/);
    expect(() => parseEmbedding(encodeKdem(validHeader({ dtype: 'uint8', encoding: 'quant8' }), new Uint8Array(10)))).toThrow(/expected 24/);
  });
});
