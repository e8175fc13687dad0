/**
 * Client for the privacy-mode endpoint (docs/api.md, "Privacy mode"). Hand-written
 * until `npm run gen:api` adds `PrivacyConfig` to api-types.ts.
 */
import type { ApiClient } from './api';

export type PrivacySetting = 'off' | 'optional' | 'required';

/** GET /api/privacy/ */
export interface PrivacyConfig {
  mode: PrivacySetting;
  /** false when the deployment requires privacy mode (POST /api/images/ answers 403). */
  uploads_allowed: boolean;
  /** The model version whose student encoder the browser runs (null: none usable). */
  model_version: number | null;
  /** `/segmentation/encoders/{id}/encoder.onnx?v=…`, immutable; null when the mode is off. */
  encoder_url: string | null;
  /** Keys the browser's cached embeddings: `{id}-{checkpoint sha256[:16]}`. */
  encoder_version: string | null;
  /** Formats the browser can embed itself. */
  browser_formats: string[];
}

export async function getPrivacyConfig(api: ApiClient, modelVersion?: number): Promise<PrivacyConfig> {
  const query = modelVersion != null ? `?model_version=${modelVersion}` : '';
  const bytes = await api.fetchBinary(`/api/privacy/${query}`);
  return JSON.parse(new TextDecoder().decode(bytes)) as PrivacyConfig;
}
