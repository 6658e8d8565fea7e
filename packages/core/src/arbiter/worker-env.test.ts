import { describe, expect, it } from 'vitest';
import { workerEnvironment } from './worker-env.js';

describe('workerEnvironment', () => {
  it('names the first TCP bind in PORT and HOST and defaults NODE_ENV to production', () => {
    const env = workerEnvironment({ PORT: '3000', PATH: '/bin' }, ['unix:/run/a.sock', 'http://[::1]:8000'], []);
    expect(env).toEqual({ PORT: '8000', HOST: '::1', NODE_ENV: 'production', PATH: '/bin' });
  });

  it('keeps what -e set and a NODE_ENV from the environment', () => {
    const env = workerEnvironment({ PORT: '3000', NODE_ENV: 'staging' }, ['https://0.0.0.0:8443'], ['PORT=3000']);
    expect(env).toEqual({ PORT: '3000', HOST: '0.0.0.0', NODE_ENV: 'staging' });
  });

  it('sets neither PORT nor HOST without a TCP bind', () => {
    expect(workerEnvironment({}, ['unix:/run/a.sock'], [])).toEqual({ NODE_ENV: 'production' });
  });
});
