import { describe, expect, it } from 'vitest';
import { ApiRequestError } from '../src/api';
import type { FieldSchema } from '../src/studio/jobs-client';
import { hashQuery } from '../src/studio/router';
import {
  coerceField,
  collectParams,
  displayDefault,
  fieldLabel,
  fieldMessage,
  initialRaw,
  jobFormPath,
  parsePrefill,
} from '../src/studio/pages/job-form';

function field(over: Partial<FieldSchema>): FieldSchema {
  return { name: 'x', type: 'int', required: false, default: null, help: '', choices: [], minimum: null, maximum: null, kind: null, ...over };
}

const epochs = field({ name: 'epochs', type: 'int', default: 100, minimum: 1, maximum: 1000 });
const lr = field({ name: 'lr', type: 'float', default: 1e-4, minimum: 1e-8, maximum: 1 });
const loss = field({ name: 'loss', type: 'str', default: 'mse+perceptual', choices: ['mse', 'mse+perceptual'] });
const quantize = field({ name: 'quantize', type: 'bool', default: true });
const dataset = field({ name: 'dataset', type: 'int', required: true, kind: 'dataset' });
const versions = field({ name: 'model_versions', type: 'list', required: true, kind: 'model_versions' });

describe('job form paths', () => {
  it('links to a prefilled form and reads the prefill back', () => {
    expect(jobFormPath('finetune', { dataset: 5 })).toBe('/jobs/new/finetune?dataset=5');
    expect(jobFormPath('export')).toBe('/jobs/new/export');
    const path = jobFormPath('evaluate', { model_versions: [3, 4], team: 2 });
    expect(path).toBe('/jobs/new/evaluate?team=2&model_versions=3%2C4');
    expect(parsePrefill(hashQuery(`#${path}`))).toEqual({ team: 2, dataset: undefined, model_version: undefined, model_versions: [3, 4] });
    expect(parsePrefill(hashQuery('#/jobs/new/export?model_version=abc')).model_version).toBeUndefined();
  });
});

describe('form value coercion', () => {
  it('shows the paper defaults', () => {
    expect(displayDefault(lr)).toBe('0.0001');
    expect(displayDefault(quantize)).toBe('yes');
    expect(displayDefault(dataset)).toBe('');
    expect(initialRaw(epochs)).toBe('100');
    expect(initialRaw(dataset, { dataset: 7 })).toBe('7');
    expect(initialRaw(versions, { model_versions: [1, 2] })).toEqual(['1', '2']);
    expect(initialRaw(quantize)).toBe(true);
    expect(fieldLabel('early_stopping_patience')).toBe('Early stopping patience');
  });

  it('coerces numbers, checkboxes, choices and id lists', () => {
    expect(coerceField(epochs, ' 20 ')).toEqual({ ok: true, value: 20 });
    expect(coerceField(lr, '1e-5')).toEqual({ ok: true, value: 1e-5 });
    expect(coerceField(lr, '.5')).toEqual({ ok: true, value: 0.5 });
    expect(coerceField(quantize, false)).toEqual({ ok: true, value: false });
    expect(coerceField(loss, 'mse')).toEqual({ ok: true, value: 'mse' });
    expect(coerceField(versions, ['3', '4'])).toEqual({ ok: true, value: [3, 4] });
    expect(coerceField(dataset, '12')).toEqual({ ok: true, value: 12 });
  });

  it('leaves empty optional fields to the server default', () => {
    expect(coerceField(epochs, '')).toEqual({ ok: true, value: undefined, omit: true });
  });

  it('explains what is wrong, like the server does', () => {
    expect(coerceField(epochs, '2.5')).toEqual({ ok: false, error: "must be an integer, got '2.5'" });
    expect(coerceField(epochs, '0')).toEqual({ ok: false, error: 'must be at least 1, got 0' });
    expect(coerceField(epochs, '5000')).toEqual({ ok: false, error: 'must be at most 1000, got 5000' });
    expect(coerceField(lr, 'fast')).toEqual({ ok: false, error: "must be a number, got 'fast'" });
    expect(coerceField(lr, '1e-3x')).toEqual({ ok: false, error: "must be a number, got '1e-3x'" });
    expect(coerceField(loss, 'l1')).toEqual({ ok: false, error: "'l1' is not one of mse, mse+perceptual" });
    expect(coerceField(dataset, '')).toEqual({ ok: false, error: 'choose a dataset' });
    expect(coerceField(versions, [])).toEqual({ ok: false, error: 'choose at least one model version' });
    expect(coerceField(field({ name: 'ids', type: 'list', required: true }), '1, x')).toEqual({ ok: false, error: "must be a list of ids, got 'x'" });
  });

  it('collects a whole form into params or messages by field', () => {
    const fields = [dataset, epochs, lr, loss, quantize];
    expect(collectParams(fields, { dataset: '3', epochs: '', lr: '0.001', loss: 'mse', quantize: true })).toEqual({
      params: { dataset: 3, lr: 0.001, loss: 'mse', quantize: true },
      errors: {},
    });
    expect(collectParams(fields, { dataset: '', epochs: '-1', lr: '1', loss: 'mse', quantize: false }).errors).toEqual({
      dataset: 'choose a dataset',
      epochs: 'must be at least 1, got -1',
    });
  });

  it('shows the server message of a rejected field without its name', () => {
    expect(fieldMessage(new ApiRequestError('epochs: must be at least 1, got 0', 400, 'invalid_parameter', 'epochs'))).toBe('must be at least 1, got 0');
    expect(fieldMessage(new ApiRequestError('The weights file of x is missing', 400, 'missing_weights', 'teacher'))).toBe('The weights file of x is missing');
  });
});
