import { describe, expect, it } from 'vitest';
import type { FromWorker, ToWorker } from '../src/decoder-protocol';
import { chooseNumThreads } from '../src/decoder-protocol';
import { Decoder, type WorkerLike } from '../src/decoder';
import { addClick, buildPromptFeeds, emptyPrompt } from '../src/prompts';

class FakeWorker implements WorkerLike {
  sent: ToWorker[] = [];
  onmessage: ((ev: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((ev: ErrorEvent) => void) | null = null;
  terminated = false;
  postMessage(message: ToWorker): void {
    this.sent.push(message);
  }
  terminate(): void {
    this.terminated = true;
  }
  reply(msg: FromWorker): void {
    this.onmessage?.({ data: msg } as MessageEvent<FromWorker>);
  }
  runs(): Extract<ToWorker, { type: 'run' }>[] {
    return this.sent.filter((m): m is Extract<ToWorker, { type: 'run' }> => m.type === 'run');
  }
  result(requestId: number, fill: number): void {
    this.reply({
      type: 'result',
      requestId,
      output: {
        masks: new Float32Array(4).fill(fill),
        maskDims: [1, 1, 2, 2],
        iou: new Float32Array([0.9]),
        lowRes: new Float32Array(1),
        lowResDims: [1, 1, 1, 1],
        runMs: 1,
      },
    });
  }
}

const flush = () => new Promise((r) => setTimeout(r, 0));
const feeds = (x: number) => buildPromptFeeds(addClick(emptyPrompt(), { x, y: 1, label: 1 }), [2, 2], [1024, 1024]);

describe('decoder (latest request wins)', () => {
  it('runs one decode and resolves with its masks', async () => {
    const w = new FakeWorker();
    const d = new Decoder(w);
    const p = d.decode('img', feeds(1));
    expect(w.runs()).toHaveLength(1);
    w.result(w.runs()[0].requestId, 5);
    const out = await p;
    expect(out?.masks[0]).toBe(5);
  });

  it('never queues more than one request behind the running one; superseded ones resolve null', async () => {
    const w = new FakeWorker();
    const d = new Decoder(w);
    const first = d.decode('img', feeds(1));
    const second = d.decode('img', feeds(2));
    const third = d.decode('img', feeds(3));
    expect(w.runs()).toHaveLength(1); // only the first is in the worker
    expect(await second).toBeNull(); // replaced by the third before it started
    w.result(w.runs()[0].requestId, 1);
    expect(await first).toBeNull(); // finished while a newer prompt was waiting: stale
    await flush();
    expect(w.runs()).toHaveLength(2);
    expect(w.runs()[1].feeds.point_coords.data[0]).toBeCloseTo(3 * 512, 3);
    w.result(w.runs()[1].requestId, 3);
    expect((await third)?.masks[0]).toBe(3);
  });

  it('rejects a decode with the worker error message', async () => {
    const w = new FakeWorker();
    const d = new Decoder(w);
    const p = d.decode('img', feeds(1));
    w.reply({ type: 'error', requestId: w.runs()[0].requestId, message: 'image embedding not loaded in the decoder' });
    await expect(p).rejects.toThrow('image embedding not loaded in the decoder');
  });

  it('asks the worker whether it still keeps an embedding by key', async () => {
    const w = new FakeWorker();
    const d = new Decoder(w);
    const kept = d.useEmbedding('server:7:1');
    const gone = d.useEmbedding('server:8:1');
    const [a, b] = w.sent as Extract<ToWorker, { type: 'use-embedding' }>[];
    expect([a.type, a.key, b.key]).toEqual(['use-embedding', 'server:7:1', 'server:8:1']);
    w.reply({ type: 'ok', requestId: a.requestId, found: true });
    w.reply({ type: 'ok', requestId: b.requestId, found: false });
    expect([await kept, await gone]).toEqual([true, false]);
  });

  it('loads the model once per URL and passes the ort wasm path', async () => {
    const w = new FakeWorker();
    const d = new Decoder(w);
    const a = d.init('/models/1/decoder.onnx');
    const b = d.init('/models/1/decoder.onnx');
    expect(a).toBe(b);
    const init = w.sent.filter((m) => m.type === 'init');
    expect(init).toHaveLength(1);
    expect(init[0].type === 'init' && init[0].wasmPaths).toBe('/static/app/ort/');
    w.reply({ type: 'ok', requestId: init[0].requestId, info: { numThreads: 1, inputNames: [], outputNames: [] } });
    await expect(a).resolves.toMatchObject({ numThreads: 1 });
  });

  it('transfers the embedding buffer to the worker', async () => {
    const w = new FakeWorker();
    const d = new Decoder(w);
    const p = d.setEmbedding('k', new Float32Array(8), [1, 2, 2, 2]);
    const msg = w.sent[0];
    expect(msg.type).toBe('embedding');
    w.reply({ type: 'ok', requestId: msg.requestId });
    await expect(p).resolves.toBeUndefined();
  });

  it('fails pending work when the worker crashes', async () => {
    const w = new FakeWorker();
    const d = new Decoder(w);
    const p = d.decode('img', feeds(1));
    w.onerror?.({ message: 'boom', preventDefault() {} } as ErrorEvent);
    await expect(p).rejects.toThrow(/decoder worker crashed: boom/);
    await expect(d.decode('img', feeds(1))).rejects.toThrow(/crashed/);
  });
});

describe('wasm thread count', () => {
  it('uses hardwareConcurrency capped at 4 when cross-origin isolated, else 1', () => {
    expect(chooseNumThreads(true, 16)).toBe(4);
    expect(chooseNumThreads(true, 2)).toBe(2);
    expect(chooseNumThreads(true, undefined)).toBe(1);
    expect(chooseNumThreads(false, 16)).toBe(1);
  });
});
