import { describe, expect, it } from 'vitest';
import {
  authorityConflict,
  forbiddenTrailer,
  methodAt,
  repeatedSingleton,
  targetProblem,
  unknownMethodStatus,
} from './fields.js';

describe('http-fields', () => {
  it('repeatedSingleton: the second Host, Content-Type, Authorization or Proxy-Authorization, in any case', () => {
    expect(repeatedSingleton(['Host', 'a', 'Accept', '*/*', 'host', 'b'])).toBe('host');
    expect(repeatedSingleton(['Content-Type', 'a', 'CONTENT-TYPE', 'b'])).toBe('CONTENT-TYPE');
    expect(repeatedSingleton(['Authorization', 'a', 'Proxy-Authorization', 'b'])).toBeUndefined();
    expect(repeatedSingleton(['Accept', 'a', 'Accept', 'b', 'Cookie', 'c', 'Cookie', 'd'])).toBeUndefined();
  });

  it('forbiddenTrailer: framing, routing and authentication fields', () => {
    expect(forbiddenTrailer(['Vary', '*', 'Content-Type', 'text/plain'])).toBeUndefined();
    for (const name of ['Host', 'Content-Length', 'transfer-encoding', 'Trailer', 'TE', 'Authorization', 'Cookie']) {
      expect(forbiddenTrailer(['X-Sum', '1', name, 'x'])).toBe(name);
    }
  });

  it('authorityConflict: host and :authority must name the same authority', () => {
    expect(authorityConflict([':authority', 'Example.com', 'host', 'example.COM'])).toBeUndefined();
    expect(authorityConflict([':authority', 'a.example', 'host', 'b.example'])).toMatch(/differs/);
    expect(authorityConflict([':authority', 'a.example'])).toBeUndefined();
  });

  it('unknownMethodStatus: 501 for a well-formed method, 400 for anything else (Gunicorn`s rule)', () => {
    expect(unknownMethodStatus('BREW')).toBe(501);
    expect(unknownMethodStatus('-BLARGH')).toBe(501);
    expect(unknownMethodStatus('brew')).toBe(400);
    expect(unknownMethodStatus('BR')).toBe(400);
    expect(unknownMethodStatus('A'.repeat(21))).toBe(400);
    expect(unknownMethodStatus('BR#W')).toBe(400);
    expect(unknownMethodStatus('BR:W')).toBe(400);
  });

  it('methodAt: the token around where the parser stopped, followed by a space', () => {
    const at = (text: string, i: number) => methodAt(Buffer.from(text, 'latin1'), i);
    expect(at('BREW /pot HTTP/1.1\r\n', 1)).toBe('BREW');
    expect(at('GET / HTTP/1.1\r\n\r\n\r\nBREW / HTTP/1.1', 21)).toBe('BREW');
    expect(at('GET: / HTTP/1.1', 3)).toBeUndefined();
    expect(at('GET\u00df / HTTP/1.1', 3)).toBeUndefined();
    expect(at('BRE', 1)).toBeUndefined();
  });

  it('targetProblem: asterisk-form for OPTIONS only, absolute-form with a well-formed authority', () => {
    expect(targetProblem('OPTIONS', '*')).toBeUndefined();
    expect(targetProblem('GET', '*')).toMatch(/only OPTIONS/);
    for (const url of ['http://example.com/a?b', 'https://[::1]:8080/', 'http://u:p@h:1/x', 'http://h', 'http://h?q']) {
      expect(targetProblem('GET', url)).toBeUndefined();
    }
    expect(targetProblem('PUT', 's://]ufd/:')).toMatch(/malformed request target/);
  });
});
