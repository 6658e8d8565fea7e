import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appFile } from './paths.js';
import { WATT_VERSION, wattConfig, wattMain } from './watt.js';

describe('wattConfig', () => {
  const config = wattConfig({ main: '/srv/app/server.js', port: 4100, workers: 2 });

  it('is a Watt "node" application of the pinned release that runs the file as it is', () => {
    expect(config.$schema).toBe(`https://schemas.platformatic.dev/@platformatic/node/${WATT_VERSION}.json`);
    expect(config.node).toEqual({ main: '/srv/app/server.js' });
  });

  it("moves the app's own listen to the loopback port, with the requested workers", () => {
    expect(config.server).toEqual({ hostname: '127.0.0.1', port: 4100 });
    expect(config.runtime).toMatchObject({ workers: 2 });
  });

  it('logs at info, where Watt says it listens', () => {
    expect(config.runtime).toMatchObject({ logger: { level: 'info' } });
  });
});

describe('wattMain', () => {
  it('runs an app that listens by itself unchanged', () => {
    expect(wattMain('express-listen')).toBe(appFile('express-listen'));
  });

  it('runs the plain handlers and the Express app through the file that listens for them', () => {
    for (const kind of ['plain', 'express'] as const) {
      expect(basename(wattMain(kind))).toBe('watt-server.mjs');
      expect(existsSync(wattMain(kind))).toBe(true);
    }
  });
});
