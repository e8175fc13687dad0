/**
 * Chunked archive upload: POST /api/datasets/uploads/ opens an upload session (no dataset exists until
 * its import succeeds), then PUT …/upload/?offset=N sends
 * it in chunks (so multi-GB archives never sit in memory on either side). A 409 `wrong_offset`
 * resumes from what the server has; network errors are retried a few times.
 */
import { ApiRequestError } from '../api';
import type { DatasetUpload, DatasetsApi } from './datasets-api';

export const CHUNK_BYTES = 8 * 1024 * 1024;
const RETRIES = 3;

export interface UploadMeta {
  team: number;
  name: string;
  description?: string;
  format?: string;
}

export interface UploadOptions {
  chunkBytes?: number;
  /** Bytes the server has, after each chunk (and 0 at the start). */
  onProgress?: (sent: number, total: number) => void;
  /** Called once the upload session exists (before the first byte). */
  onCreated?: (upload: DatasetUpload) => void;
  signal?: AbortSignal;
  /** Pause between retries (ms). */
  retryDelayMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function uploadArchive(
  api: DatasetsApi,
  file: Blob,
  filename: string,
  meta: UploadMeta,
  opts: UploadOptions = {},
): Promise<DatasetUpload> {
  const chunkBytes = opts.chunkBytes ?? CHUNK_BYTES;
  let dataset = await api.createUpload({
    team: meta.team,
    name: meta.name,
    description: meta.description ?? '',
    filename,
    size: file.size,
    format: (meta.format ?? '') as never,
  });
  opts.onCreated?.(dataset);
  let offset = dataset.upload_received;
  opts.onProgress?.(offset, file.size);
  let failures = 0;
  while (offset < file.size) {
    if (opts.signal?.aborted) throw new ApiRequestError('The upload was cancelled.', 0, 'aborted');
    const chunk = file.slice(offset, Math.min(offset + chunkBytes, file.size));
    try {
      dataset = await api.putChunk(dataset.upload_url, offset, chunk);
      offset = dataset.upload_received;
      failures = 0;
    } catch (err) {
      if (err instanceof ApiRequestError && err.code === 'wrong_offset') {
        dataset = await api.uploadStatus(dataset.id);
        offset = dataset.upload_received;
      } else if (err instanceof ApiRequestError && err.status === 0 && ++failures <= RETRIES) {
        await sleep(opts.retryDelayMs ?? 1000 * failures);
        dataset = await api.uploadStatus(dataset.id).catch(() => dataset);
        offset = dataset.upload_received;
      } else {
        throw err;
      }
    }
    opts.onProgress?.(offset, file.size);
  }
  return dataset;
}
