import { describe, expect, it } from 'vitest';
import { Router, compilePattern, hashPath, isUnder } from '../src/studio/router';

describe('studio router', () => {
  const noop = () => undefined;
  const router = new Router()
    .add({ pattern: '/datasets', render: noop })
    .add({ pattern: '/datasets/upload', render: noop })
    .add({ pattern: '/datasets/:id', render: noop })
    .add({ pattern: '/jobs/:kind/:id', render: noop });

  it('matches static routes before parameters registered later', () => {
    expect(router.match('/datasets/upload')?.route.pattern).toBe('/datasets/upload');
    expect(router.match('/datasets/12')).toMatchObject({ route: { pattern: '/datasets/:id' }, params: { id: '12' } });
    expect(router.match('/datasets/12/')?.params).toEqual({ id: '12' });
  });

  it('decodes several parameters and rejects unknown paths', () => {
    expect(router.match('/jobs/distill%20x/7')?.params).toEqual({ kind: 'distill x', id: '7' });
    expect(router.match('/datasets/1/items')).toBeNull();
    expect(router.match('/nothing')).toBeNull();
  });

  it('reads the path from the hash', () => {
    expect(hashPath('')).toBe('/');
    expect(hashPath('#/')).toBe('/');
    expect(hashPath('#/datasets/5?tab=x')).toBe('/datasets/5');
    expect(hashPath('#datasets')).toBe('/datasets');
  });

  it('highlights nav entries for paths below them only', () => {
    expect(isUnder('/datasets/5', '/datasets')).toBe(true);
    expect(isUnder('/datasets', '/datasets/')).toBe(true);
    expect(isUnder('/datasetsx', '/datasets')).toBe(false);
    expect(compilePattern('/a.b/:x').regex.test('/aXb/1')).toBe(false);
  });
});
