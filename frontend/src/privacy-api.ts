/**
 * Client for the privacy-mode endpoint (docs/api.md, "Privacy mode"). The answer's shape is the
 * generated PrivacyConfig of api-types.ts: `mode` (off | optional | required), `uploads_allowed`
 * (false when privacy mode is required: POST /api/images/ answers 403), `model_version` and
 * `encoder_url` of the student encoder the browser runs (null: none usable / mode off),
 * `encoder_version` (keys the browser's cached embeddings) and `browser_formats`.
 */
import type { ApiClient } from './api';
import type { ModeEnum, PrivacyConfig } from './api-types';

export type { PrivacyConfig };
export type PrivacySetting = ModeEnum;

/** GET /api/privacy/ */
export async function getPrivacyConfig(api: ApiClient, modelVersion?: number): Promise<PrivacyConfig> {
  const query = modelVersion != null ? `?model_version=${modelVersion}` : '';
  const bytes = await api.fetchBinary(`/api/privacy/${query}`);
  return JSON.parse(new TextDecoder().decode(bytes)) as PrivacyConfig;
}
