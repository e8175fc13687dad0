/**
 * Client of the datasets API (docs/api-datasets.md). An upload session (`DatasetUpload`, under
 * /api/datasets/uploads/) carries the transfer, validation, report, confirmation and import; a
 * `Dataset` exists only once its import succeeded. Errors are the shared ApiRequestError of
 * ../api.ts (the server's error.message); unsafe methods send X-CSRFToken.
 */
import { type ApiClientOptions, HttpClient } from '../api';
import type {
  ConfirmRequest,
  Dataset,
  DatasetCreateRequest,
  DatasetItemPage,
  DatasetReport,
  DatasetUpload,
  Session,
  TeamMembership,
  TeamStorage,
} from '../api-types';

export type { ConfirmRequest, Dataset, DatasetCreateRequest, DatasetItemPage, DatasetReport, DatasetUpload, TeamMembership, TeamStorage };
export type UploadState = DatasetUpload['state'];
export type Split = 'train' | 'val' | 'test';

export type DatasetsApiOptions = ApiClientOptions;

export class DatasetsApi extends HttpClient {
  session(): Promise<Session> {
    return this.json('/api/session/');
  }

  teams(): Promise<TeamMembership[]> {
    return this.json('/api/teams/');
  }

  /** Stored bytes and storage quota of each of your teams (`team`: only that one; 404 unless a member). */
  storage(team?: number): Promise<TeamStorage[]> {
    return this.json(team === undefined ? '/api/datasets/storage/' : `/api/datasets/storage/?team=${team}`);
  }

  // -- datasets (imported) ----------------------------------------------------------------------
  list(): Promise<Dataset[]> {
    return this.json('/api/datasets/');
  }

  get(id: number): Promise<Dataset> {
    return this.json(`/api/datasets/${id}/`);
  }

  /** The validation report the dataset was imported from. */
  report(id: number): Promise<DatasetReport> {
    return this.json(`/api/datasets/${id}/report/`);
  }

  items(id: number, opts: { split?: Split | ''; page?: number; pageSize?: number } = {}): Promise<DatasetItemPage> {
    const q = new URLSearchParams();
    if (opts.split) q.set('split', opts.split);
    q.set('page', String(opts.page ?? 1));
    q.set('page_size', String(opts.pageSize ?? 48));
    return this.json(`/api/datasets/${id}/items/?${q}`);
  }

  async remove(id: number): Promise<void> {
    await this.send(`/api/datasets/${id}/`, { method: 'DELETE' });
  }

  // -- upload sessions --------------------------------------------------------------------------
  uploads(opts: { limit?: number } = {}): Promise<DatasetUpload[]> {
    return this.json(`/api/datasets/uploads/?limit=${opts.limit ?? 20}`);
  }

  createUpload(body: DatasetCreateRequest): Promise<DatasetUpload> {
    return this.post('/api/datasets/uploads/', body);
  }

  /** PUT one chunk at `offset` of the archive to the session's upload_url. */
  putChunk(uploadUrl: string, offset: number, chunk: Blob): Promise<DatasetUpload> {
    return this.json(`${uploadUrl}?offset=${offset}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: chunk,
    });
  }

  uploadStatus(id: number): Promise<DatasetUpload> {
    return this.json(`/api/datasets/uploads/${id}/status/`);
  }

  uploadReport(id: number): Promise<DatasetReport> {
    return this.json(`/api/datasets/uploads/${id}/report/`);
  }

  confirm(uploadId: number, body: ConfirmRequest): Promise<DatasetUpload> {
    return this.post(`/api/datasets/uploads/${uploadId}/confirm/`, body);
  }

  cancel(uploadId: number): Promise<DatasetUpload> {
    return this.post(`/api/datasets/uploads/${uploadId}/cancel/`, {});
  }

  async removeUpload(uploadId: number): Promise<void> {
    await this.send(`/api/datasets/uploads/${uploadId}/`, { method: 'DELETE' });
  }
}
