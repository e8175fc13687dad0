import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');

/** Drops the CLI's banner comment so only the generated declarations are compared. */
function declarations(source: string): string {
  return source.replace(/^\/\*\*[\s\S]*?\*\/\s*/, '').trim();
}

describe('api-types.ts', () => {
  it('is exactly what openapi-typescript generates from the committed openapi.json', async () => {
    const schema = JSON.parse(readFileSync(join(root, 'openapi.json'), 'utf8'));
    const ast = await openapiTS(schema, { rootTypes: true, rootTypesNoSchemaPrefix: true });
    const committed = readFileSync(join(root, 'src', 'api-types.ts'), 'utf8');
    expect(declarations(committed)).toBe(declarations(astToString(ast)));
  }, 30_000);
});
