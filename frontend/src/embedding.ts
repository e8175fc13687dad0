/**
 * Reader for the KDEM embedding format (docs/api.md, `application/x-kdsam-embedding`):
 *
 *   bytes 0-3     ASCII "KDEM"
 *   bytes 4-7     header length N, uint32 little-endian
 *   bytes 8..8+N  UTF-8 JSON header, padded with spaces
 *   bytes 8+N..   payload, little-endian, C order
 *
 * Only what this reader understands is accepted: version 1; encoding raw with
 * dtype float16 or float32, or encoding quant8 / quant8-zlib with dtype uint8
 * (per-channel affine 8-bit codes: C float32 minima, C float32 steps, then the
 * codes; quant8-zlib compresses that payload with zlib and needs the async
 * parseEmbeddingAsync). Anything else is rejected with an EmbeddingFormatError.
 */

export const KDEM_MAGIC = 'KDEM';
export const SUPPORTED_VERSIONS: readonly number[] = [1];
export const SUPPORTED_ENCODINGS: readonly string[] = ['raw', 'quant8', 'quant8-zlib'];
const QUANT_ENCODINGS: readonly string[] = ['quant8', 'quant8-zlib'];
const BYTES_PER_ELEMENT = { float16: 2, float32: 4, uint8: 1 } as const;
export type EmbeddingDtype = keyof typeof BYTES_PER_ELEMENT;
export const SUPPORTED_DTYPES = Object.keys(BYTES_PER_ELEMENT) as EmbeddingDtype[];

/** The shape SAM's mask decoder takes. */
export const SAM_EMBEDDING_SHAPE: readonly number[] = [1, 256, 64, 64];

export interface EmbeddingHeader {
  version: number;
  dtype: EmbeddingDtype;
  shape: number[];
  encoding: string;
  /** [height, width] of the original image. */
  image_size: [number, number];
  /** [height, width] after the longest-side resize to 1024. */
  input_size: [number, number];
  model_version: number | null;
  [extra: string]: unknown;
}

export interface Embedding {
  header: EmbeddingHeader;
  /** Decoded values as float32, length = product(shape). */
  data: Float32Array;
  dims: number[];
}

export class EmbeddingFormatError extends Error {
  constructor(message: string) {
    super(`Invalid embedding: ${message}`);
    this.name = 'EmbeddingFormatError';
  }
}

// ---------------------------------------------------------------------------
// float16 -> float32 (IEEE 754 binary16), without Float16Array

/** Value of one IEEE 754 half-precision bit pattern. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x03ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero (keeps -0) and subnormals
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

let halfTable: Float32Array | null = null;

/** All 65536 half values as float32 (built once, 256 KiB). */
function getHalfTable(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfTable[i] = halfToFloat(i);
  }
  return halfTable;
}

/** Decodes an array of half bit patterns to float32. */
export function decodeFloat16(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const table = getHalfTable();
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian uint16 values of `count` elements starting at `offset`. */
function readUint16LE(buffer: ArrayBuffer, offset: number, count: number): Uint16Array {
  if (LITTLE_ENDIAN_HOST) {
    if (offset % 2 === 0) return new Uint16Array(buffer, offset, count);
    return new Uint16Array(buffer.slice(offset, offset + count * 2));
  }
  const view = new DataView(buffer, offset, count * 2);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getUint16(i * 2, true);
  return out;
}

function readFloat32LE(buffer: ArrayBuffer, offset: number, count: number): Float32Array {
  if (LITTLE_ENDIAN_HOST) return new Float32Array(buffer.slice(offset, offset + count * 4));
  const view = new DataView(buffer, offset, count * 4);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

// ---------------------------------------------------------------------------
// header validation

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function checkHeightWidth(value: unknown, field: string): [number, number] {
  if (!Array.isArray(value) || value.length !== 2 || !value.every(isPositiveInt)) {
    throw new EmbeddingFormatError(
      `header field "${field}" must be [height, width] of positive integers, got ${JSON.stringify(value)}`,
    );
  }
  return [value[0], value[1]];
}

function validateHeader(raw: unknown): EmbeddingHeader {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new EmbeddingFormatError('header is not a JSON object');
  }
  const h = raw as Record<string, unknown>;
  if (!SUPPORTED_VERSIONS.includes(h.version as number)) {
    throw new EmbeddingFormatError(
      `unsupported version ${JSON.stringify(h.version)} (this app reads version ${SUPPORTED_VERSIONS.join(', ')}); reload the page or update the app`,
    );
  }
  if (typeof h.dtype !== 'string' || !(SUPPORTED_DTYPES as string[]).includes(h.dtype)) {
    throw new EmbeddingFormatError(
      `unsupported dtype ${JSON.stringify(h.dtype)} (supported: ${SUPPORTED_DTYPES.join(', ')})`,
    );
  }
  if (typeof h.encoding !== 'string' || !SUPPORTED_ENCODINGS.includes(h.encoding)) {
    throw new EmbeddingFormatError(
      `unsupported encoding ${JSON.stringify(h.encoding)} (supported: ${SUPPORTED_ENCODINGS.join(', ')})`,
    );
  }
  if (!Array.isArray(h.shape) || h.shape.length === 0 || !h.shape.every(isPositiveInt)) {
    throw new EmbeddingFormatError(`header field "shape" must be a list of positive integers, got ${JSON.stringify(h.shape)}`);
  }
  const imageSize = checkHeightWidth(h.image_size, 'image_size');
  const inputSize = checkHeightWidth(h.input_size, 'input_size');
  return {
    ...h,
    version: h.version as number,
    dtype: h.dtype as EmbeddingDtype,
    encoding: h.encoding,
    shape: [...(h.shape as number[])],
    image_size: imageSize,
    input_size: inputSize,
    model_version: typeof h.model_version === 'number' ? h.model_version : null,
  };
}

// ---------------------------------------------------------------------------

/** Magic, header and payload offset of a KDEM buffer (header validated). */
function readKdem(buffer: ArrayBuffer): { header: EmbeddingHeader; payloadOffset: number } {
  if (buffer.byteLength < 8) {
    throw new EmbeddingFormatError(`file too short (${buffer.byteLength} bytes)`);
  }
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]);
  if (magic !== KDEM_MAGIC) {
    throw new EmbeddingFormatError(`bad magic ${JSON.stringify(magic)}, expected "${KDEM_MAGIC}"`);
  }
  const headerLength = new DataView(buffer).getUint32(4, true);
  const payloadOffset = 8 + headerLength;
  if (payloadOffset > buffer.byteLength) {
    throw new EmbeddingFormatError(
      `truncated header: header length ${headerLength} but only ${buffer.byteLength - 8} bytes follow`,
    );
  }
  let rawHeader: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, payloadOffset));
    rawHeader = JSON.parse(text);
  } catch (err) {
    throw new EmbeddingFormatError(`header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  const header = validateHeader(rawHeader);
  const quant = QUANT_ENCODINGS.includes(header.encoding);
  if (quant !== (header.dtype === 'uint8')) {
    throw new EmbeddingFormatError(`dtype ${header.dtype} does not go with encoding ${header.encoding}`);
  }
  return { header, payloadOffset };
}

/** Values of a quant8 payload: minimum[c] + step[c] * code, channel = axis 1. */
export function decodeQuant8(payload: Uint8Array, shape: readonly number[]): Float32Array {
  if (shape.length < 2) throw new EmbeddingFormatError(`quant8 shape ${JSON.stringify(shape)} has no channel axis`);
  const channels = shape[1];
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = 8 * channels + count;
  if (payload.byteLength !== expected) {
    throw new EmbeddingFormatError(`quant8 payload has ${payload.byteLength} bytes, expected ${expected} for ${JSON.stringify(shape)}`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, 8 * channels);
  const low = new Float32Array(channels);
  const step = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    low[c] = view.getFloat32(4 * c, true);
    step[c] = view.getFloat32(4 * (channels + c), true);
  }
  const codes = payload.subarray(8 * channels);
  const inner = count / (shape[0] * channels);
  const out = new Float32Array(count);
  for (let b = 0, i = 0; b < shape[0]; b++) {
    for (let c = 0; c < channels; c++) {
      const lo = low[c];
      const st = step[c];
      for (let k = 0; k < inner; k++, i++) out[i] = lo + st * codes[i];
    }
  }
  return out;
}

/** zlib (RFC 1950) inflate with the platform's DecompressionStream("deflate"). */
export async function inflateZlib(data: Uint8Array): Promise<Uint8Array> {
  if (typeof DecompressionStream === 'undefined') {
    throw new EmbeddingFormatError('this browser cannot decompress (no DecompressionStream); update the browser');
  }
  try {
    const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (err) {
    throw new EmbeddingFormatError(`corrupt quant8-zlib payload (${(err as Error).message})`);
  }
}

/** Parses a KDEM buffer of any supported encoding (quant8-zlib needs this async variant). */
export async function parseEmbeddingAsync(buffer: ArrayBuffer): Promise<Embedding> {
  const { header, payloadOffset } = readKdem(buffer);
  if (header.encoding !== 'quant8-zlib') return parseEmbedding(buffer);
  const payload = await inflateZlib(new Uint8Array(buffer, payloadOffset));
  return { header, data: decodeQuant8(payload, header.shape), dims: [...header.shape] };
}

/** Parses a KDEM buffer; throws EmbeddingFormatError with a clear reason on any problem. */
export function parseEmbedding(buffer: ArrayBuffer): Embedding {
  const { header, payloadOffset } = readKdem(buffer);
  if (header.encoding === 'quant8-zlib') {
    throw new EmbeddingFormatError('quant8-zlib is compressed: use parseEmbeddingAsync');
  }
  if (header.encoding === 'quant8') {
    const payload = new Uint8Array(buffer, payloadOffset);
    return { header, data: decodeQuant8(payload, header.shape), dims: [...header.shape] };
  }

  const count = header.shape.reduce((a, b) => a * b, 1);
  const expectedBytes = count * BYTES_PER_ELEMENT[header.dtype];
  const payloadBytes = buffer.byteLength - payloadOffset;
  if (payloadBytes < expectedBytes) {
    throw new EmbeddingFormatError(
      `truncated payload: shape ${JSON.stringify(header.shape)} ${header.dtype} needs ${expectedBytes} bytes, got ${payloadBytes}`,
    );
  }
  if (payloadBytes > expectedBytes) {
    throw new EmbeddingFormatError(
      `payload has ${payloadBytes - expectedBytes} unexpected trailing bytes (shape ${JSON.stringify(header.shape)} ${header.dtype} needs ${expectedBytes})`,
    );
  }
  const data =
    header.dtype === 'float16'
      ? decodeFloat16(readUint16LE(buffer, payloadOffset, count))
      : readFloat32LE(buffer, payloadOffset, count);
  return { header, data, dims: [...header.shape] };
}

/** Throws unless the embedding is what SAM's decoder takes for an image of this size. */
export function assertDecoderEmbedding(emb: Embedding, image?: { width: number; height: number }): void {
  const shape = emb.header.shape;
  if (shape.length !== SAM_EMBEDDING_SHAPE.length || shape.some((d, i) => d !== SAM_EMBEDDING_SHAPE[i])) {
    throw new EmbeddingFormatError(
      `shape ${JSON.stringify(shape)} is not ${JSON.stringify(SAM_EMBEDDING_SHAPE)}`,
    );
  }
  if (image) {
    const [h, w] = emb.header.image_size;
    if (h !== image.height || w !== image.width) {
      throw new EmbeddingFormatError(
        `embedding is for a ${w}x${h} image but the image is ${image.width}x${image.height}`,
      );
    }
  }
}
