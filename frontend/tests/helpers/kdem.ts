/** Builds KDEM buffers for tests, laid out like the server writes them. */
export function encodeKdem(header: Record<string, unknown>, payload: Uint8Array, opts: { pad?: number } = {}): ArrayBuffer {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const align = opts.pad ?? 8;
  const headerLength = Math.ceil(json.length / align) * align;
  const out = new Uint8Array(8 + headerLength + payload.length);
  out.set([0x4b, 0x44, 0x45, 0x4d], 0); // "KDEM"
  new DataView(out.buffer).setUint32(4, headerLength, true);
  out.fill(0x20, 8, 8 + headerLength); // spaces
  out.set(json, 8);
  out.set(payload, 8 + headerLength);
  return out.buffer;
}

/** Little-endian bytes of uint16 values. */
export function uint16LE(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setUint16(i * 2, v, true));
  return out;
}

export function validHeader(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    dtype: 'float16',
    shape: [1, 2, 2, 2],
    encoding: 'raw',
    image_size: [529, 622],
    input_size: [871, 1024],
    model_version: 3,
    ...overrides,
  };
}
