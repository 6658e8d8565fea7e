import { get, startKelpie, stopAll } from '@kelpie/worker-testkit';
import { afterEach, describe, expect, it } from 'vitest';

// This class's own behaviour, tested the same way: a real kelpie, real requests.
const worker = new URL('../dist/index.js', import.meta.url).pathname;
const app = new URL('./slow-app.mjs', import.meta.url).pathname;

afterEach(stopAll);

describe('yourname worker', () => {
  it('logs a warning for a request slower than YOURNAME_SLOW_MS, and none for a fast one', async () => {
    const kp = await startKelpie(['-k', worker, '-w', '1', app], { env: { YOURNAME_SLOW_MS: '200' } });
    expect(kp.log()).toMatch(/Using worker: yourname/);
    expect((await get(`${kp.url}/fast`)).status).toBe(200);
    expect((await get(`${kp.url}/slow`)).status).toBe(200);
    await kp.waitForLog(/\[WARNING\] Slow request: GET \/slow took \d+ ms/);
    expect(kp.log()).not.toMatch(/Slow request: GET \/fast/);
  });

  it('refuses a YOURNAME_SLOW_MS that is not a positive number, naming it', async () => {
    const kp = await startKelpie(['-k', worker, app], { env: { YOURNAME_SLOW_MS: 'soon' }, waitFor: 'nothing' });
    expect(await kp.exited()).toEqual({ code: 2, signal: null });
    expect(kp.log()).toMatch(
      /Invalid value for YOURNAME_SLOW_MS: "soon"\. Allowed: a positive number of milliseconds\./,
    );
  });
});
