import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { rawField } from './raw-fields.js';

/** A request as Node's parser leaves it, to compare rawField() with what req.headers says. */
function request(raw: string[]): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  // What Node's parser calls with the fields it read.
  (req as unknown as { _addHeaderLines(raw: string[], n: number): void })._addHeaderLines(raw, raw.length);
  return req;
}

describe('rawField', () => {
  const raw = [
    'Host',
    'a.test',
    'User-Agent',
    'one',
    'user-agent',
    'two',
    'X-Forwarded-Proto',
    'https',
    'x-forwarded-proto',
    'http',
  ];

  it('finds a field whatever the case of its name, as req.headers does', () => {
    expect(rawField(raw, 'host')).toBe(request(raw).headers.host);
    expect(rawField(raw, 'referer')).toBeUndefined();
  });

  it('keeps the first of a field Node keeps once, and joins a field Node joins', () => {
    const headers = request(raw).headers;
    expect(rawField(raw, 'user-agent')).toBe(headers['user-agent']);
    expect(rawField(raw, 'x-forwarded-proto', true)).toBe(headers['x-forwarded-proto']);
    expect(rawField(raw, 'x-forwarded-proto', true)).toBe('https, http');
  });

  it('handles no fields at all', () => {
    expect(rawField([], 'host')).toBeUndefined();
  });
});
