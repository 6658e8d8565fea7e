import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Logger } from '../observability/logger.js';
import { bindListeners, type Listener, socketFolderProblem, startListening } from './listeners.js';

const dir = mkdtempSync(join(tmpdir(), 'kelpie-listeners-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('socketFolderProblem', () => {
  it('names a missing folder, a file in the way, or nothing for a usable folder', () => {
    expect(socketFolderProblem(join(dir, 'missing', 'x.sock'))).toBe(
      `the folder ${join(dir, 'missing')} does not exist`,
    );
    writeFileSync(join(dir, 'file'), '');
    expect(socketFolderProblem(join(dir, 'file', 'x.sock'))).toMatch(/is not a folder/);
    expect(socketFolderProblem(join(dir, 'x.sock'))).toBeUndefined();
  });
});

/** Whether a connection to the listener is taken (by the kernel: nothing here accepts it). */
function connects(listener: Listener): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(listener.url).port), '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('startListening', () => {
  const log = new Logger('error', { write: () => {} });
  const bound = () => bindListeners(['127.0.0.1:0'], { backlog: 16, log });

  it('listens through a helper process when the first worker gave no report', async () => {
    const [listener] = await bound();
    if (!listener) throw new Error('nothing bound');
    try {
      expect(await connects(listener)).toBe(false);
      expect(await startListening([listener], 16, Promise.resolve(undefined))).toBe('helper');
      expect(await connects(listener)).toBe(true);
    } finally {
      listener.close();
    }
  });

  it("takes the first worker's report: an address in use there stops with KELPIE_ERR_ADDRESS_IN_USE", async () => {
    const [listener] = await bound();
    if (!listener) throw new Error('nothing bound');
    try {
      await expect(startListening([listener], 16, Promise.resolve(['EADDRINUSE']))).rejects.toMatchObject({
        code: 'KELPIE_ERR_ADDRESS_IN_USE',
      });
      // The report is believed: no helper listened meanwhile.
      expect(await connects(listener)).toBe(false);
    } finally {
      listener.close();
    }
  });
});
