/**
 * Client of the datasets API (docs/api-datasets.md). Errors are the shared ApiRequestError of
 * ../api.ts (the server's error.message); unsafe methods send X-CSRFToken.
 */
import { type ApiClientOptions, HttpClient } from '../api';
import type {
  ConfirmRequest,
  Dataset,
  DatasetCreateRequest,
  DatasetItemPage,
  DatasetReport,
  TeamMembership,
} from '../api-types';

export type { ConfirmRequest, Dataset, DatasetCreateRequest, DatasetItemPage, DatasetReport, TeamMembership };
export type DatasetState = Dataset['state'];
export type Split = 'train' | 'val' | 'test';

export type DatasetsApiOptions = ApiClientOptions;

export class DatasetsApi extends HttpClient {
  session(): Promise<{ user: { username: string; is_staff: boolean } }> {
    return this.json('/api/session/');
  }

  teams(): Promise<TeamMembership[]> {
    return this.json('/api/teams/');
  }

  list(): Promise<Dataset[]> {
    return this.json('/api/datasets/');
  }

  get(id: number): Promise<Dataset> {
    return this.json(`/api/datasets/${id}/`);
  }

  status(id: number): Promise<Dataset> {
    return this.json(`/api/datasets/${id}/status/`);
  }

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

  createUpload(body: DatasetCreateRequest): Promise<Dataset> {
    return this.post('/api/datasets/', body);
  }

  /** PUT one chunk at `offset` of the archive to the dataset's upload_url. */
  putChunk(uploadUrl: string, offset: number, chunk: Blob): Promise<Dataset> {
    return this.json(`${uploadUrl}?offset=${offset}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: chunk,
    });
  }

  confirm(id: number, body: ConfirmRequest): Promise<Dataset> {
    return this.post(`/api/datasets/${id}/confirm/`, body);
  }

  cancel(id: number): Promise<Dataset> {
    return this.post(`/api/datasets/${id}/cancel/`, {});
  }

  async remove(id: number): Promise<void> {
    await this.send(`/api/datasets/${id}/`, { method: 'DELETE' });
  }
}
