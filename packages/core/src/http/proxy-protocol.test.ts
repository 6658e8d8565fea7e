import { describe, expect, it } from 'vitest';
import { parseProxyHeader } from './proxy-protocol.js';

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

function v2(command: number, family: number, body: number[]): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(body.length);
  return Buffer.from([...SIGNATURE, 0x20 | command, family, ...length, ...body]);
}

const port = (n: number) => [n >> 8, n & 0xff];

describe('PROXY protocol headers', () => {
  it('v1: TCP4, TCP6 and UNKNOWN, with the bytes after the header left alone', () => {
    const data = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n');
    expect(parseProxyHeader(data, 'auto')).toEqual({
      header: {
        version: 1,
        command: 'PROXY',
        family: 'TCP4',
        sourceAddress: '203.0.113.7',
        destinationAddress: '10.0.0.1',
        sourcePort: 56324,
        destinationPort: 443,
      },
      length: 43,
    });
    const six = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 ::1 1 65535\r\n'), 'v1');
    expect(six).toMatchObject({ header: { family: 'TCP6', sourceAddress: '2001:db8::1', destinationPort: 65535 } });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'), 'v1')).toEqual({
      header: { version: 1, command: 'PROXY', family: 'UNKNOWN' },
      length: 15,
    });
  });

  it('v1: incomplete until the CRLF; absent for anything else', () => {
    expect(parseProxyHeader(Buffer.from('PRO'), 'auto')).toBe('incomplete');
    // A health check that connects and closes: no verdict, in any mode.
    expect(parseProxyHeader(Buffer.alloc(0), 'v2')).toBe('incomplete');
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4'), 'auto')).toBe('incomplete');
    expect(parseProxyHeader(Buffer.from('POST / HTTP/1.1\r\n'), 'auto')).toBe('absent');
    expect(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01]), 'auto')).toBe('absent');
  });

  it.each([
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', /without 6 fields/],
    ['PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', /not TCP4, TCP6 or UNKNOWN/],
    ['PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n', /addresses are not TCP4/],
    ['PROXY TCP4 ::1 ::1 1 2\r\n', /addresses are not TCP4/],
    ['PROXY TCP6 1.2.3.4 ::1 1 2\r\n', /addresses are not TCP6/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', /port out of range: 65536/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', /port out of range: 01/],
    [`PROXY TCP4 ${'1'.repeat(120)}`, /longer than 107 bytes/],
  ])('v1: %j is malformed', (text, reason) => {
    expect(() => parseProxyHeader(Buffer.from(text), 'auto')).toThrow(reason);
  });

  it('v2: TCP4, TCP6 (as sockets print IPv6), LOCAL, UNSPEC; TLVs skipped', () => {
    const tcp4 = v2(1, 0x11, [198, 51, 100, 9, 127, 0, 0, 1, ...port(4444), ...port(8000), 0x04, 0x00, 0x01, 0x00]);
    expect(parseProxyHeader(Buffer.concat([tcp4, Buffer.from('GET')]), 'v2')).toEqual({
      header: {
        version: 2,
        command: 'PROXY',
        family: 'TCP4',
        sourceAddress: '198.51.100.9',
        destinationAddress: '127.0.0.1',
        sourcePort: 4444,
        destinationPort: 8000,
      },
      length: 32,
    });
    const source = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 5];
    const mapped = [...Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1];
    expect(parseProxyHeader(v2(1, 0x21, [...source, ...mapped, ...port(1), ...port(2)]), 'auto')).toMatchObject({
      header: { family: 'TCP6', sourceAddress: '2001:db8::5', destinationAddress: '::ffff:10.0.0.1' },
      length: 52,
    });
    expect(parseProxyHeader(v2(0, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]), 'auto')).toEqual({
      header: { version: 2, command: 'LOCAL', family: 'UNKNOWN' },
      length: 28,
    });
    expect(parseProxyHeader(v2(1, 0x00, []), 'auto')).toMatchObject({ header: { family: 'UNKNOWN' }, length: 16 });
    expect(parseProxyHeader(v2(1, 0x11, [1, 2, 3, 4]).subarray(0, 18), 'auto')).toBe('incomplete');
  });

  it('v2: UDP, a bad version or command, short addresses are malformed; the wrong version for the mode too', () => {
    expect(() => parseProxyHeader(v2(1, 0x12, Array(12).fill(0)), 'auto')).toThrow(/UDP/);
    expect(() => parseProxyHeader(v2(1, 0x11, [1, 2, 3]), 'auto')).toThrow(/shorter than its addresses/);
    const badVersion = v2(1, 0x11, Array(12).fill(0));
    badVersion[12] = 0x31;
    expect(() => parseProxyHeader(badVersion, 'auto')).toThrow(/version 3/);
    expect(() => parseProxyHeader(v2(5, 0x11, Array(12).fill(0)), 'auto')).toThrow(/unknown command 5/);
    expect(() => parseProxyHeader(v2(1, 0x11, Array(12).fill(0)), 'v1')).toThrow(/v2 header where --proxy-protocol v1/);
    expect(() => parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'), 'v2')).toThrow(
      /v1 header where --proxy-protocol v2/,
    );
  });
});
