import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JobObject } from '../src/api-types';
import { JobFeed, JobsApi, jobFileUrl, jobQuery, jobsSocketUrl } from '../src/studio/jobs-client';
import { isStale, liveFromEvent, parseJobMessage, reduceJobList, reduceJobView, type ProgressEvent } from '../src/studio/jobs-state';
import { formatDuration, formatEta, formatNumber, formatThroughput, progressFraction, progressText, speedText } from '../src/studio/jobs-text';
import { FakeSocket } from './helpers/fake-socket';

function event(over: Partial<ProgressEvent> = {}): ProgressEvent {
  return { kind: 'step', phase: 'distill', epoch: 1, epochs: 10, step: 1, steps: 4, losses: {}, lr: 1e-4, throughput: 5, eta_s: 100, extra: {}, ...over };
}

function job(id: number, over: Partial<JobObject> = {}): JobObject {
  return {
    id, kind: 'distill', team: 1, owner: 'admin', params: {}, queue: 'gpu', priority: 0, state: 'queued', cancel_requested: false,
    queue_position: null, progress: {}, history: [], log_tail: '', result: {}, error: '', worker_host: '', attempts: 0, max_attempts: 3,
    created_at: `2026-11-24T10:00:0${id % 10}Z`, started_at: null, finished_at: null, model_versions: [], ...over,
  };
}

describe('progress and ETA formatting', () => {
  it('formats durations and ETAs', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(42.4)).toBe('42 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(3720)).toBe('1 h 02 min');
    expect(formatDuration(2 * 86400 + 3 * 3600)).toBe('2 d 03 h');
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(Number.NaN)).toBe('—');
    expect(formatEta(90)).toBe('about 1 min 30 s left');
    expect(formatEta(null)).toBe('ETA unknown');
    expect(formatEta(0.2)).toBe('finishing up'); // last step done, validation/export still running
  });

  it('formats throughput and losses', () => {
    expect(formatThroughput(12.345)).toBe('12.3 img/s');
    expect(formatThroughput(0.4213)).toBe('0.42 img/s');
    expect(formatThroughput(250.2)).toBe('250 img/s');
    expect(formatThroughput(0)).toBe('—');
    expect(formatNumber(0.123456)).toBe('0.1235');
    expect(formatNumber(1e-5)).toBe('1.00e-5');
    expect(formatNumber(null)).toBe('—');
  });

  it('computes the share of the whole run done', () => {
    expect(progressFraction(job(1, { state: 'queued' }))).toBe(0);
    expect(progressFraction(job(1, { state: 'succeeded' }))).toBe(1);
    expect(progressFraction(job(1, { state: 'running' }))).toBeNull(); // started, no event yet: indeterminate
    expect(progressFraction(job(1, { state: 'running', progress: event({ epoch: 3, epochs: 10, step: 2, steps: 4 }) }))).toBeCloseTo(0.25);
    expect(progressFraction(job(1, { state: 'running', progress: event({ kind: 'epoch', epoch: 3, epochs: 10, step: 4, steps: 4 }) }))).toBeCloseTo(0.3);
    expect(progressFraction(job(1, { state: 'running', progress: event({ kind: 'cache', epoch: 0, epochs: 0, step: 30, steps: 120 }) }))).toBeCloseTo(0.25);
    expect(progressFraction(job(1, { state: 'running', progress: event({ phase: 'evaluate', epoch: 0, epochs: 0, step: 9, steps: 10 }) }))).toBeCloseTo(0.9);
  });

  it('says where a job is', () => {
    expect(progressText(job(1, { state: 'queued', queue_position: 2 }))).toBe('Queued · position 2 in the gpu queue');
    expect(progressText(job(1, { state: 'running', progress: event({ epoch: 3, step: 2 }) }))).toBe('Running · distilling · epoch 3/10 · step 2/4');
    expect(progressText(job(1, { state: 'running', cancel_requested: true, progress: event({ kind: 'epoch', epoch: 3 }) }))).toBe('Cancelling · distilling · epoch 3/10');
    expect(progressText(job(1, { state: 'running', progress: event({ kind: 'cache', epoch: 0, epochs: 0, step: 3, steps: 8, extra: { what: 'teacher embeddings' } }) })))
      .toBe('Running · caching teacher embeddings 3/8');
    expect(progressText(job(1, { state: 'running', progress: event({ phase: 'evaluate', epochs: 0, epoch: 0, step: 5, steps: 9 }) }))).toBe('Running · evaluating · image 5/9');
    expect(progressText(job(1, { state: 'failed' }))).toBe('Failed');
    expect(speedText(job(1, { state: 'running', progress: event({ throughput: 12.34, eta_s: 65 }) }))).toBe('12.3 img/s · about 1 min 05 s left');
    expect(speedText(job(1, { state: 'succeeded', progress: event() }))).toBe('');
  });
});

describe('event → state reduction', () => {
  it('parses job messages and ignores anything else', () => {
    const running = job(4, { state: 'running' });
    expect(parseJobMessage(JSON.stringify({ type: 'job.update', job: running }))).toEqual({ type: 'job.update', job: running });
    const msg = parseJobMessage(JSON.stringify({ type: 'job.progress', job: running, event: event({ step: 3 }) }));
    expect(msg?.type === 'job.progress' && msg.event?.step).toBe(3);
    expect(parseJobMessage('{"type": "image.status", "image": {}}')).toBeNull();
    expect(parseJobMessage('not json')).toBeNull();
    expect(parseJobMessage(JSON.stringify({ type: 'job.update', job: { id: 'x' } }))).toBeNull();
  });

  it('turns a training step into the running point of the curves', () => {
    expect(liveFromEvent(event({ epoch: 3, step: 1, steps: 4, losses: { loss: 0.5, mse: 0.2 } }))).toEqual({ x: 2.25, values: { train_loss: 0.5, train_mse: 0.2 }, lr: 1e-4 });
    expect(liveFromEvent(event({ kind: 'epoch' }))).toBeNull();
    expect(liveFromEvent(event({ phase: 'evaluate', epochs: 0, epoch: 0, losses: { dice: 0.9 } }))).toBeNull();
  });

  it('follows a run: progress, epoch, finish', () => {
    let view = reduceJobView(null, { type: 'job.update', job: job(7, { state: 'running', attempts: 1 }) });
    expect(view.live).toBeNull();
    const step = event({ epoch: 1, step: 2, losses: { loss: 0.8 } });
    view = reduceJobView(view, { type: 'job.progress', job: job(7, { state: 'running', attempts: 1, progress: step }), event: step });
    expect(view.live?.x).toBe(0.5);
    const epoch = event({ kind: 'epoch', epoch: 1, step: 4, losses: { train_loss: 0.7, val_loss: 0.75 } });
    const history = [{ epoch: 1, lr: 1e-4, train_loss: 0.7, val_loss: 0.75 }];
    view = reduceJobView(view, { type: 'job.progress', job: job(7, { state: 'running', attempts: 1, progress: epoch, history }), event: epoch });
    expect(view.live).toBeNull();
    expect(view.job.history).toEqual(history);
    // a poll answer from before the epoch finished arrives late: ignored
    const late = reduceJobView(view, { type: 'job.update', job: job(7, { state: 'running', attempts: 1, progress: step }) });
    expect(late).toBe(view);
    // a job.update (state change) keeps the running point of the same attempt
    const step2 = event({ epoch: 2, step: 1, losses: { loss: 0.6 } });
    view = reduceJobView(view, { type: 'job.progress', job: job(7, { state: 'running', attempts: 1, progress: step2, history }), event: step2 });
    const cancelling = reduceJobView(view, { type: 'job.update', job: job(7, { state: 'running', attempts: 1, progress: step2, history, cancel_requested: true }) });
    expect(cancelling.live).toEqual(view.live);
    const done = reduceJobView(cancelling, { type: 'job.update', job: job(7, { state: 'cancelled', attempts: 1, progress: step2, history }) });
    expect(done.job.state).toBe('cancelled');
    expect(done.live).toBeNull();
    // a progress message that was in flight when it finished does not resurrect it
    expect(reduceJobView(done, { type: 'job.progress', job: job(7, { state: 'running', attempts: 1, progress: step2 }), event: step2 })).toBe(done);
    // ...but a retry (next attempt) does run again
    const retried = reduceJobView(done, { type: 'job.update', job: job(7, { state: 'running', attempts: 2 }) });
    expect(retried.job.state).toBe('running');
    // messages of other jobs are ignored
    expect(reduceJobView(retried, { type: 'job.update', job: job(8) })).toBe(retried);
  });

  it('keeps the list newest first, upserting and dropping what the filter excludes', () => {
    let jobs = [job(2), job(1)];
    jobs = reduceJobList(jobs, { type: 'job.update', job: job(3) });
    expect(jobs.map((j) => j.id)).toEqual([3, 2, 1]);
    jobs = reduceJobList(jobs, { type: 'job.update', job: job(2, { state: 'running' }) });
    expect(jobs.map((j) => [j.id, j.state])).toEqual([[3, 'queued'], [2, 'running'], [1, 'queued']]);
    const filtered = reduceJobList(jobs, { type: 'job.update', job: job(2, { state: 'succeeded' }) }, { state: 'running' });
    expect(filtered.map((j) => j.id)).toEqual([3, 1]);
    expect(reduceJobList([], { type: 'job.update', job: job(5, { kind: 'export' }) }, { kind: 'distill' })).toEqual([]);
  });

  it('recognises stale pictures of the same attempt only', () => {
    const a = job(1, { state: 'running', attempts: 1, progress: event({ epoch: 2, step: 3 }) });
    expect(isStale(a, job(1, { state: 'running', attempts: 1, progress: event({ epoch: 2, step: 1 }) }))).toBe(true);
    expect(isStale(a, job(1, { state: 'running', attempts: 1, progress: event({ epoch: 2, step: 4 }) }))).toBe(false);
    expect(isStale(a, job(1, { state: 'running', attempts: 2, progress: event({ epoch: 1, step: 1 }) }))).toBe(false);
    expect(isStale(a, job(1, { state: 'running', attempts: 1, progress: event({ phase: 'finetune', epoch: 1, step: 1 }) }))).toBe(false);
    expect(isStale(a, job(1, { state: 'failed', attempts: 1 }))).toBe(false);
  });
});

describe('live job feed', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('polls while the socket is down and stops once the job finished', async () => {
    const sockets: FakeSocket[] = [];
    let state: JobObject['state'] = 'running';
    const poll = vi.fn(async () => job(9, { state }));
    const seen: string[] = [];
    const feed = new JobFeed({
      openSocket: () => (sockets.push(new FakeSocket()), sockets.at(-1)!),
      poll,
      shouldPoll: () => state !== 'succeeded' || seen.at(-1) !== 'succeeded',
      onMessage: (m) => seen.push(m.job.state),
      pollIntervalMs: 1000,
    });
    feed.start();
    sockets[0].onclose?.({} as CloseEvent);
    await vi.advanceTimersByTimeAsync(1000);
    expect(seen).toEqual(['running']);
    state = 'succeeded';
    await vi.advanceTimersByTimeAsync(1000);
    expect(seen.at(-1)).toBe('succeeded');
    const calls = poll.mock.calls.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(poll.mock.calls.length).toBe(calls);
    feed.stop();
  });

  it('delivers socket messages, catches up once on connect, reconnects after a drop', async () => {
    const sockets: FakeSocket[] = [];
    const poll = vi.fn(async () => [job(1), job(2)]);
    const seen: number[] = [];
    const live: boolean[] = [];
    const feed = new JobFeed({
      openSocket: () => (sockets.push(new FakeSocket()), sockets.at(-1)!),
      poll,
      onMessage: (m) => seen.push(m.job.id),
      onConnectionChange: (l) => live.push(l),
      pollIntervalMs: 1000,
    });
    feed.start();
    sockets[0].onopen?.({} as Event);
    await vi.advanceTimersByTimeAsync(0);
    expect(poll).toHaveBeenCalledTimes(1);
    expect(seen).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(poll).toHaveBeenCalledTimes(1); // no polling while live
    sockets[0].onmessage?.({ data: JSON.stringify({ type: 'job.progress', job: job(3, { state: 'running' }), event: event() }) } as MessageEvent);
    expect(seen.at(-1)).toBe(3);
    sockets[0].onclose?.({} as CloseEvent);
    expect(feed.isLive).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sockets).toHaveLength(2);
    expect(poll.mock.calls.length).toBeGreaterThan(1); // polled while reconnecting
    sockets[1].onopen?.({} as Event);
    expect(live).toEqual([true, false, true]);
    feed.stop();
    expect(sockets[1].closed).toBe(true);
  });
});

describe('jobs client', () => {
  it('sends the CSRF token and reports the field of a rejected parameter', async () => {
    const calls: [string, RequestInit][] = [];
    const fetchImpl = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
      calls.push([String(url), init!]);
      return new Response(JSON.stringify({ error: { code: 'invalid_parameter', message: 'epochs: must be at least 1, got 0', field: 'epochs' } }), { status: 400 });
    });
    const api = new JobsApi({ fetch: fetchImpl as typeof fetch, cookie: () => 'csrftoken=abc' });
    await expect(api.submit({ team: 1, kind: 'distill', params: { epochs: 0 } })).rejects.toMatchObject({ status: 400, field: 'epochs', code: 'invalid_parameter' });
    expect(calls[0][0]).toBe('/api/jobs/');
    expect(new Headers(calls[0][1].headers).get('X-CSRFToken')).toBe('abc');
    expect(JSON.parse(String(calls[0][1].body))).toEqual({ team: 1, kind: 'distill', params: { epochs: 0 }, priority: 0 });
  });

  it('builds URLs', () => {
    expect(jobQuery({ state: 'running', kind: '', team: 2 })).toBe('?state=running&team=2');
    expect(jobQuery({})).toBe('');
    expect(jobFileUrl(4, 'report/figure2_dice.png')).toBe('/api/jobs/4/files/report/figure2_dice.png');
    expect(jobsSocketUrl(undefined, { protocol: 'https:', host: 'x.org' })).toBe('wss://x.org/ws/jobs/');
    expect(jobsSocketUrl(5, { protocol: 'http:', host: 'h:1' })).toBe('ws://h:1/ws/jobs/5/');
  });
});
