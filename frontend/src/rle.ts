/**
 * COCO run-length encoding of binary masks, as the API stores them (docs/api.md):
 * `{"size": [height, width], "counts": [n0, n1, ...]}`, run lengths over the mask
 * read in column-major order, starting with a (possibly empty) run of zeros —
 * what pycocotools calls an uncompressed RLE.
 *
 * Masks in the browser are row-major Uint8Array (1 inside, 0 outside).
 */

export interface Rle {
  size: [number, number];
  counts: number[];
}

export function rleEncode(mask: ArrayLike<number>, height: number, width: number): Rle {
  if (mask.length !== height * width) throw new RangeError(`mask has ${mask.length} values, expected ${height}×${width}`);
  const counts: number[] = [];
  let current = 0;
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const v = mask[y * width + x] ? 1 : 0;
      if (v !== current) {
        counts.push(run);
        run = 0;
        current = v;
      }
      run++;
    }
  }
  counts.push(run);
  return { size: [height, width], counts };
}

export function rleDecode(rle: Rle): Uint8Array {
  const [height, width] = rle.size;
  const total = rle.counts.reduce((a, b) => a + b, 0);
  if (total !== height * width) throw new RangeError(`RLE counts add up to ${total}, expected ${height}×${width}`);
  const mask = new Uint8Array(height * width);
  let i = 0;
  rle.counts.forEach((n, k) => {
    if (k % 2 === 1) {
      for (let j = i; j < i + n; j++) mask[(j % height) * width + Math.floor(j / height)] = 1;
    }
    i += n;
  });
  return mask;
}

/** Number of pixels inside a mask. */
export function maskArea(mask: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  return n;
}
