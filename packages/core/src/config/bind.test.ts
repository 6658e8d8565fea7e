import { describe, expect, it } from 'vitest';
import { formatAddress, parseBind } from './bind.js';

describe('parseBind', () => {
  it('reads every Gunicorn form', () => {
    expect(parseBind('127.0.0.1:8080')).toMatchObject({ kind: 'tcp', host: '127.0.0.1', port: 8080 });
    expect(parseBind('localhost')).toMatchObject({ kind: 'tcp', host: 'localhost', port: 8000 });
    expect(parseBind(':9000')).toMatchObject({ kind: 'tcp', host: '0.0.0.0', port: 9000 });
    expect(parseBind('[::1]:8001')).toMatchObject({ kind: 'tcp', host: '::1', port: 8001 });
    expect(parseBind('[::]')).toMatchObject({ kind: 'tcp', host: '::', port: 8000 });
    expect(parseBind('::1')).toMatchObject({ kind: 'tcp', host: '::1', port: 8000 });
    expect(parseBind('unix:/run/app.sock')).toMatchObject({ kind: 'unix', path: '/run/app.sock' });
    expect(parseBind('unix:///run/app.sock')).toMatchObject({ kind: 'unix', path: '/run/app.sock' });
    expect(parseBind('fd://3')).toMatchObject({ kind: 'fd', fd: 3 });
  });

  it('refuses malformed addresses with the allowed forms', () => {
    expect(() => parseBind('127.0.0.1:99999')).toThrow(/port "99999" is not 0-65535.*Allowed: HOST, HOST:PORT/);
    expect(() => parseBind('[zz]:80')).toThrow(/expected \[IPV6\]/);
    expect(() => parseBind('fd://x')).toThrow(/not a file descriptor number/);
    expect(() => parseBind('unix:')).toThrow(/socket path is empty/);
    expect(() => parseBind('a b:80')).toThrow(/not a host name/);
  });

  it('formats addresses for "Listening at"', () => {
    expect(formatAddress(parseBind('[::1]:0'), 4123)).toBe('http://[::1]:4123');
    expect(formatAddress(parseBind('unix:/x.sock'))).toBe('unix:/x.sock');
  });
});
