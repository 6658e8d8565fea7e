import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { settingsMarkdown } from './config/settings-doc.js';
import { ErrorCodes, KelpieError } from './errors.js';

const doc = (name: string) => readFileSync(new URL(`../../../docs/${name}`, import.meta.url), 'utf8');

describe('docs stay true to the code', () => {
  it('docs/errors.md documents every error code with its exit status', () => {
    const errors = doc('errors.md');
    const rows = errors
      .split('\n')
      .filter((line) => line.startsWith('|'))
      .map((line) => line.split('|').map((cell) => cell.trim()));
    for (const code of Object.keys(ErrorCodes) as (keyof typeof ErrorCodes)[]) {
      const row = rows.find((cells) => cells[1] === `\`${code}\``);
      expect(row, `${code} is missing from docs/errors.md`).toBeDefined();
      expect(row?.[2], `exit status of ${code} in docs/errors.md`).toBe(String(new KelpieError(code, 'x').exitCode));
    }
  });

  it('docs/settings.md is generated from the settings table (run `pnpm --filter @kelpie/core docs`)', () => {
    expect(doc('settings.md')).toBe(settingsMarkdown());
  });
});
