import { describe, expect, it } from 'vitest';
import { parseEmbedding } from '../src/embedding';
import { PRIVACY_STORAGE_KEY, browserEmbeddingKey, encodeKdem, readChoice, resolvePrivacyMode, sniffFormat, writeChoice } from '../src/privacy';

describe('resolvePrivacyMode', () => {
  it('off never embeds in the browser and offers no toggle', () => {
    expect(resolvePrivacyMode('off', 'privacy')).toEqual({ privacy: false, canToggle: false, setting: 'off' });
  });
  it('required always embeds in the browser, whatever the user chose', () => {
    expect(resolvePrivacyMode('required', 'server')).toEqual({ privacy: true, canToggle: false, setting: 'required' });
    expect(resolvePrivacyMode('required', null).privacy).toBe(true);
  });
  it('optional follows the user choice, server mode by default', () => {
    expect(resolvePrivacyMode('optional', null)).toEqual({ privacy: false, canToggle: true, setting: 'optional' });
    expect(resolvePrivacyMode('optional', 'privacy').privacy).toBe(true);
    expect(resolvePrivacyMode('optional', 'server').privacy).toBe(false);
  });
  it('an unknown or missing setting is off', () => {
    expect(resolvePrivacyMode(undefined, 'privacy').privacy).toBe(false);
    expect(resolvePrivacyMode('bogus', 'privacy').setting).toBe('off');
  });
});

describe('user choice storage', () => {
  it('round-trips privacy/server and ignores anything else', () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    expect(readChoice(storage)).toBeNull();
    writeChoice('privacy', storage);
    expect(store.get(PRIVACY_STORAGE_KEY)).toBe('privacy');
    expect(readChoice(storage)).toBe('privacy');
    store.set(PRIVACY_STORAGE_KEY, 'nonsense');
    expect(readChoice(storage)).toBeNull();
  });
});

describe('browser embeddings', () => {
  it('encodeKdem writes a raw float32 KDEM the viewer parses', () => {
    const data = new Float32Array(256 * 64 * 64).map((_, i) => (i % 97) / 7);
    const buffer = encodeKdem(data, [1, 256, 64, 64], [529, 622], [871, 1024], 3, { source: 'browser' });
    const emb = parseEmbedding(buffer);
    expect(emb.header.image_size).toEqual([529, 622]);
    expect(emb.header.input_size).toEqual([871, 1024]);
    expect(emb.dims).toEqual([1, 256, 64, 64]);
    expect(Buffer.from(emb.data.buffer, emb.data.byteOffset, emb.data.byteLength).equals(Buffer.from(data.buffer))).toBe(true);
  });
  it('keys the cache by content hash and encoder version', () => {
    expect(browserEmbeddingKey('ab12', '3-deadbeef')).toBe('/__kdsam-cache__/browser-embeddings/3-deadbeef/ab12.kdem');
  });
  it('sniffs the formats privacy mode accepts', () => {
    expect(sniffFormat(new Uint8Array([0x89, 0x50, 0x4e, 0x47]))).toBe('png');
    expect(sniffFormat(new Uint8Array([0xff, 0xd8, 0xff]))).toBe('jpeg');
    expect(sniffFormat(new Uint8Array([0x42, 0x4d, 0, 0]))).toBe('bmp');
    expect(sniffFormat(new Uint8Array([0x49, 0x49, 42, 0]))).toBe('tiff');
    expect(sniffFormat(new Uint8Array([1, 2, 3, 4]))).toBeNull();
  });
});
