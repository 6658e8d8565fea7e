import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONTROL_COMMANDS } from './arbiter/control.js';
import { ACCESS_LOG_ATOM_TABLE } from './config/access-log-format.js';
import { BUILTIN_PLUGINS } from './config/builtin-plugins.js';
import { HOOK_NAMES, HOOKS } from './config/hooks.js';
import { settingsMarkdown } from './config/settings-doc.js';
import { ErrorCodes, KelpieError } from './errors.js';

const repoFile = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
const doc = (name: string) => repoFile(`docs/${name}`);

/** The cells of a markdown file's table rows whose first cell matches `first`. */
function rows(markdown: string, first: RegExp): string[][] {
  return markdown
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) => line.split('|').map((cell) => cell.trim()))
    .filter((cells) => first.test(cells[1] ?? ''));
}

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

  it('docs/config.md lists every hook once, with the process it runs in', () => {
    const table = rows(doc('config.md'), /^`\w+\(/);
    expect(table.map((cells) => /^`(\w+)\(/.exec(cells[1] as string)?.[1])).toEqual([...HOOK_NAMES]);
    for (const cells of table) {
      const name = /^`(\w+)\(/.exec(cells[1] as string)?.[1] as keyof typeof HOOKS;
      expect(cells[2], `where ${name} runs, in docs/config.md`).toBe(HOOKS[name]);
    }
  });

  it('docs/logging.md names every access-log atom', () => {
    const logging = doc('logging.md');
    for (const atom of Object.keys(ACCESS_LOG_ATOM_TABLE)) {
      const braced = /^\{[^}]+\}([ioe])$/.exec(atom);
      const written = braced ? new RegExp(`%\\(\\{\\w+\\}${braced[1]}\\)s`) : `%(${atom})s`;
      expect(logging, `%(${atom})s is missing from docs/logging.md`).toMatch(written);
    }
  });

  it('docs/control.md describes every control command of the protocol, and no other', () => {
    const commands = rows(doc('control.md'), /^`[\w.]+`$/).map((cells) => (cells[1] as string).slice(1, -1));
    expect(commands).toEqual(expect.arrayContaining([...CONTROL_COMMANDS]));
    const dotted = commands.filter((command) => command.includes('.'));
    expect(CONTROL_COMMANDS).toEqual(expect.arrayContaining(dotted));
  });

  it('the built-in plugins are the packages of this repository, and the README and docs name them', () => {
    const readme = repoFile('README.md');
    const workerClasses = doc('worker-classes.md');
    for (const [kind, names] of Object.entries(BUILTIN_PLUGINS)) {
      for (const name of names) {
        const pkg = `@kelpie/${kind}-${name}`;
        expect(JSON.parse(repoFile(`packages/${kind}-${name}/package.json`)).name).toBe(pkg);
        expect(readme, `${pkg} is missing from README.md`).toContain(`\`${pkg}\``);
      }
    }
    for (const name of BUILTIN_PLUGINS.worker) {
      expect(rows(workerClasses, new RegExp(`^\`${name}[\` ]`)), `-k ${name} in docs/worker-classes.md`).toHaveLength(
        1,
      );
    }
  });
});
