/**
 * The public surface of @kelpie/core is reviewed, not discovered: the report of the built
 * dist/index.d.ts must equal api/core.api.md. After a deliberate change, `pnpm --filter @kelpie/core
 * api` rebuilds and rewrites the report (vitest's `-u`); the diff then shows in review.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { apiEntries, apiReport } from './api-report.js';

const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));
const built = existsSync(dist('index.d.ts')) && existsSync(dist('internal.d.ts'));

describe.runIf(built)('the public surface of @kelpie/core (built dist)', () => {
  let entries: ReturnType<typeof apiEntries> | undefined;
  const publicEntries = () => (entries ??= apiEntries(dist('index.d.ts')));

  it('equals the checked-in API report, api/core.api.md (update: pnpm --filter @kelpie/core api)', async () => {
    const report = apiReport(publicEntries(), '@kelpie/core public API', 'pnpm --filter @kelpie/core api');
    await expect(report).toMatchFileSnapshot('../api/core.api.md');
  });

  it('shares no name with the internal entry: a name is public or internal, not both', () => {
    const publicNames = new Set(publicEntries().exported.map((e) => e.name));
    const shared = apiEntries(dist('internal.d.ts')).exported.filter((e) => publicNames.has(e.name));
    expect(shared.map((e) => e.name)).toEqual([]);
  });
});

it.runIf(!built)('needs the built dist: run `pnpm build` first', () => {
  expect.fail('packages/core/dist is missing: the API report is made from the built declarations');
});
