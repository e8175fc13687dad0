/**
 * Decoder choice: which ONNX mask decoder an image is segmented with, loaded into the decoder worker.
 *
 * The image's model version's multimask decoder serves every prompt: its output 0 is what the
 * single-mask export returns for several prompts, and for one click it picks from 1-3 like
 * select_masks does. The official single-mask decoder (decoder_onnx_url) is only the fallback when
 * the multimask one cannot be loaded (no candidates then). Loading the single-mask session as well
 * cost ~1.5 s of session setup queued in the worker ahead of the first click after a page load
 * (BENCHMARKS.md, reopen).
 */
import type { ImageObject, ModelVersion } from './api-types';
import type { InitInfo } from './decoder';

/** The decoder a viewer decodes with, once loaded. */
export interface ChosenDecoder {
  url: string;
  info: InitInfo;
}

/** The multimask decoder's URL and the single-mask fallback's ('' when the image's model version is unknown). */
export function decoderUrls(
  image: Pick<ImageObject, 'decoder_url'>,
  model: Pick<ModelVersion, 'decoder_onnx_url'>,
  version: Pick<ModelVersion, 'decoder_onnx_url'> | null,
  url: (path: string) => string,
): { multi: string; single: string } {
  const single = version ? url(version.decoder_onnx_url) : '';
  return { multi: url(image.decoder_url || single || model.decoder_onnx_url), single };
}

/** Loads the multimask decoder, or (if it cannot be loaded) the single-mask one; rejects when neither loads. */
export function loadDecoder(
  urls: { multi: string; single: string },
  init: (url: string) => Promise<InitInfo>,
  warn: (message: string) => void = console.warn,
): Promise<ChosenDecoder> {
  const { multi, single } = urls;
  return init(multi).then(
    (info) => ({ url: multi, info }),
    async (err: Error) => {
      if (!single || single === multi) throw err;
      warn(`multimask decoder unavailable (${err.message}); using ${single}`);
      return { url: single, info: await init(single) };
    },
  );
}
