import { build, FIXTURES, install } from './fixtures.js';

/**
 * vitest's global setup: install the fixture apps (in parallel: mostly waiting on the registry),
 * then build them one at a time (the builds are CPU-bound). Both are skipped when up to date.
 */
export default async function setup(): Promise<void> {
  const started = Date.now();
  const installed = await Promise.all(FIXTURES.map(install));
  const built: string[] = [];
  for (const fixture of FIXTURES) if (await build(fixture)) built.push(fixture.name);
  const names = FIXTURES.filter((_, i) => installed[i]).map((f) => f.name);
  console.log(
    `fixtures: installed ${names.join(', ') || 'none'}; built ${built.join(', ') || 'none'} (${Math.round((Date.now() - started) / 1000)} s)`,
  );
}
