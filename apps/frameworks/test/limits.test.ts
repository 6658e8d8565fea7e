import { startKelpie, stopAll } from '@kelpie/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureDir } from './fixtures.js';
import { KELPIE_BIN } from './helpers.js';

// What the frameworks cannot do under kelpie, said plainly.

afterAll(stopAll);

describe('Next.js standalone under -k threads', () => {
  it('is refused at load (server.js calls process.chdir), with an error that names -k async', async () => {
    const kp = await startKelpie(['-k', 'threads', '-w', '1', '-b', '127.0.0.1:0', '.next/standalone/server.js'], {
      cwd: fixtureDir('next'),
      bin: KELPIE_BIN,
      autoBind: false,
      waitFor: 'nothing',
      timeoutMs: 60_000,
      env: { NODE_ENV: undefined, NEXT_TELEMETRY_DISABLED: '1' },
    });
    expect(await kp.exited(60_000)).toEqual({ code: 4, signal: null });
    expect(kp.log()).toMatch(/process\.chdir\(\) is not supported in workers/);
    expect(kp.log()).toMatch(/use -k async/);
    expect(kp.log()).toMatch(/Reason: App failed to load\./);
  });
});
