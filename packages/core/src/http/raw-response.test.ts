import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Logger } from '../observability/logger.js';
import { rawResponse } from './raw-response.js';
import { refuseUpgrades, writeUpgradeRefusal } from './upgrade-refusal.js';

/** A writable socket stand-in that keeps what is written and whether it was ended. */
function sink(): { socket: Writable; written: () => string; ended: () => boolean } {
  const chunks: Buffer[] = [];
  const socket = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  return { socket, written: () => Buffer.concat(chunks).toString(), ended: () => socket.writableEnded };
}

describe('rawResponse', () => {
  it('writes the status line, Connection: close, the text/plain type, the length in bytes, the body', () => {
    expect(rawResponse(400, 'Bad Request: this port speaks HTTPS; the request came in plain HTTP.\n')).toBe(
      'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 69\r\n\r\nBad Request: this port speaks HTTPS; the request came in plain HTTP.\n',
    );
    // Content-Length counts UTF-8 bytes, not characters.
    expect(rawResponse(403, 'Forbidden: é\n')).toBe(
      'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\nForbidden: é\n',
    );
  });

  it("is byte for byte the threads class's 503", () => {
    const body = 'Service Unavailable: the request handler did not finish within the worker timeout.\n';
    expect(rawResponse(503, body)).toBe(
      'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });

  it('puts given headers after the default type and before the length; a given Content-Type replaces it', () => {
    expect(rawResponse(426, 'x\n', { Upgrade: 'websocket' })).toBe(
      'HTTP/1.1 426 Upgrade Required\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        'Upgrade: websocket\r\nContent-Length: 2\r\n\r\nx\n',
    );
    expect(rawResponse(400, '{}', { 'content-type': 'application/json', 'X-Id': 7 })).toBe(
      'HTTP/1.1 400 Bad Request\r\nConnection: close\r\ncontent-type: application/json\r\nX-Id: 7\r\nContent-Length: 2\r\n\r\n{}',
    );
  });

  it('names a status Node does not know "Refused"', () => {
    expect(rawResponse(599, '').split('\r\n')[0]).toBe('HTTP/1.1 599 Refused');
  });
});

describe('upgrade refusals', () => {
  it('a bare status gets its reason phrase as the body, and the socket is ended', () => {
    const { socket, written, ended } = sink();
    writeUpgradeRefusal(socket as never, 503);
    expect(written()).toBe(rawResponse(503, 'Service Unavailable\n'));
    expect(ended()).toBe(true);
  });

  it('a socket no longer writable is destroyed, not written to', () => {
    const { socket, written } = sink();
    socket.end();
    writeUpgradeRefusal(socket as never, { status: 400, body: 'no\n' });
    expect(written()).toBe('');
    expect(socket.destroyed).toBe(true);
  });

  it('refuseUpgrades answers 426 and says which class does not serve WebSockets', () => {
    const lines: string[] = [];
    const log = new Logger('info', { write: (line: string) => lines.push(line) });
    const refuse = refuseUpgrades(log, 'async', { attach: () => {} });
    expect(lines.join('')).toMatch(/attach\(server\), which -k async does not call/);
    const { socket, written } = sink();
    refuse({ url: '/chat' } as never, socket as never, Buffer.alloc(0));
    expect(written()).toBe(
      rawResponse(426, 'WebSocket upgrades need the ws worker class (kelpie -k ws).\n', { Upgrade: 'websocket' }),
    );
    expect(lines.join('')).toMatch(/WebSocket upgrade refused for \/chat: .* -k async does not serve/);
  });
});
