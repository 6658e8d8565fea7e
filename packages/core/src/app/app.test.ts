import { describe, expect, it } from 'vitest';
import { toApp, usesWebSockets, websocketOf } from './app.js';

/** SPEC.md 1.7: what an app may hold under the reserved names websocket, upgrade and attach. */

const listener = (_req: unknown, _res: unknown) => {};

describe('websocketOf', () => {
  it("takes an object with any of kelpie's handler names as functions for kelpie's handlers", () => {
    const handlers = { message() {} };
    expect(websocketOf(handlers)).toEqual({ websocket: handlers });
    const refuser = { upgrade: () => 401 };
    expect(websocketOf(refuser)).toEqual({ websocket: refuser });
  });

  it("takes crossws's options (a resolve function, or a hooks object) for crossws", () => {
    const nitro = { resolve: async () => ({}) };
    expect(websocketOf(nitro)).toEqual({ crossws: nitro });
    const h3 = { hooks: { open() {} } };
    expect(websocketOf(h3)).toEqual({ crossws: h3 });
  });

  it('serves a crossws node adapter through its own handleUpgrade, and closes with closeAll(1001)', () => {
    const calls: unknown[][] = [];
    const adapter = {
      peers: new Set(),
      handleUpgrade(...args: unknown[]) {
        calls.push(['handleUpgrade', this === adapter, ...args]);
      },
      closeAll(...args: unknown[]) {
        calls.push(['closeAll', ...args]);
      },
    };
    const served = websocketOf(adapter);
    expect(served.websocket).toBeUndefined();
    served.upgrade?.('req' as never, 'socket' as never, 'head' as never);
    served.closeWebSockets?.();
    expect(calls).toEqual([
      ['handleUpgrade', true, 'req', 'socket', 'head'],
      ['closeAll', 1001, 'Server shutting down'],
    ]);
  });

  it('refuses what it cannot serve, saying what to export instead', () => {
    const instead =
      /Export websocket as kelpie's handlers \(\{ upgrade\?, open, message, close, error \}: SPEC\.md 1\.7\)/;
    for (const foreign of [{ onConnection() {} }, {}, { open: 'yes' }, () => {}, 'ws', 42]) {
      expect(() => websocketOf(foreign)).toThrow(instead);
    }
    expect(() => websocketOf({ path: '/ws' })).toThrow(
      /The app's websocket is object with keys path, with none of upgrade, open, message, close, error as a function/,
    );
    // A `ws` WebSocketServer: handleUpgrade takes a callback and it is an event emitter.
    const wss = { on() {}, handleUpgrade(_req: unknown, _socket: unknown, _head: unknown, _cb: unknown) {} };
    expect(() => websocketOf(wss)).toThrow(/a ws WebSocketServer\?/);
    try {
      websocketOf({});
    } catch (error) {
      expect(error).toMatchObject({ code: 'KELPIE_ERR_APP_EXPORT' });
    }
  });
});

describe('toApp and the reserved names', () => {
  it('reads websocket from the app value first, then the module, and ignores an undefined one', () => {
    const handlers = { open() {} };
    expect(toApp(listener, {}, { websocket: handlers })?.websocket).toBe(handlers);
    // Nitro's node-listener build exports websocket = undefined when websockets are off.
    const plain = toApp(listener, {}, { listener, websocket: undefined });
    expect(plain && usesWebSockets(plain)).toBe(false);
  });

  it('counts crossws options as WebSockets, so classes without them answer 426', () => {
    const app = toApp(listener, {}, { websocket: { resolve() {} } });
    expect(app?.crossws).toBeDefined();
    expect(app && usesWebSockets(app)).toBe(true);
  });

  it('puts an upgrade export before a crossws adapter', () => {
    const upgrade = (_req: unknown, _socket: unknown, _head: unknown) => 'mine';
    const adapter = { handleUpgrade(_req: unknown, _socket: unknown, _head: unknown) {}, closeAll() {} };
    const app = toApp(listener, {}, { upgrade, websocket: adapter });
    expect(app?.upgrade?.({} as never, {} as never, Buffer.alloc(0))).toBe('mine');
    expect(app?.closeWebSockets).toBeUndefined();
  });

  it('refuses upgrade and attach that are not functions', () => {
    expect(() => toApp(listener, {}, { upgrade: { path: '/' } })).toThrow(
      /The app's upgrade is object with keys path; kelpie reserves that name for an upgrade listener/,
    );
    expect(() => toApp(listener, {}, { attach: true })).toThrow(/The app's attach is boolean; kelpie reserves/);
  });
});
