import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { dropUntrustedForwarding, isAddressPattern, settleForwardedFor, trustFunction } from './forwarded.js';

const request = (peer: string, headers: Record<string, string>) =>
  ({ socket: { remoteAddress: peer }, headers: { ...headers } }) as unknown as IncomingMessage;

describe('--forwarded-allow-ips', () => {
  it('accepts addresses, CIDR ranges and *, and nothing else', () => {
    for (const ok of ['127.0.0.1', '::1', '10.0.0.0/8', 'fd00::/8', '*']) expect(isAddressPattern(ok)).toBe(true);
    for (const bad of ['10.0.0.300', 'localhost', '10.0.0.0/33', '', '1.2.3'])
      expect(isAddressPattern(bad)).toBe(false);
  });

  it('matches peers by address and range, IPv4-mapped IPv6 as IPv4', () => {
    const trusted = trustFunction(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
    expect(trusted('127.0.0.1')).toBe(true);
    expect(trusted('::ffff:127.0.0.1')).toBe(true);
    expect(trusted('10.20.30.40')).toBe(true);
    expect(trusted('fd12::1')).toBe(true);
    expect(trusted('11.0.0.1')).toBe(false);
    expect(trusted('::1')).toBe(false);
    expect(trusted(undefined)).toBe(false);
    expect(trusted('not an address')).toBe(false);
    expect(trustFunction(['*'])('198.51.100.7')).toBe(true);
    expect(() => trustFunction(['10.0.0.1', 'proxy.local'])).toThrow(/Not an IP address or CIDR range: "proxy\.local"/);
  });

  it('removes forwarded headers sent by an untrusted peer, and keeps those of a trusted one', () => {
    const trusted = trustFunction(['127.0.0.1']);
    const headers = { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https', forwarded: 'for=1.2.3.4', host: 'h' };
    const stranger = request('192.0.2.1', headers);
    dropUntrustedForwarding(stranger, trusted);
    expect(stranger.headers).toEqual({ host: 'h' });
    const proxy = request('127.0.0.1', headers);
    dropUntrustedForwarding(proxy, trusted);
    expect(proxy.headers).toEqual(headers);
  });

  it('settles X-Forwarded-For on the first address a trusted hop vouches for', () => {
    const trusted = trustFunction(['127.0.0.1', '10.0.0.0/8']);
    const settle = (peer: string, xff: string) => {
      const req = request(peer, { 'x-forwarded-for': xff });
      settleForwardedFor(req, trusted);
      return req.headers['x-forwarded-for'];
    };
    // A client-supplied address in front of what the proxy appended is not believed.
    expect(settle('127.0.0.1', '6.6.6.6, 203.0.113.9')).toBe('203.0.113.9');
    // Through two trusted proxies.
    expect(settle('127.0.0.1', '203.0.113.9, 10.1.1.1')).toBe('203.0.113.9');
    // Every hop trusted: the innermost address.
    expect(settle('127.0.0.1', '10.0.0.5, 10.1.1.1')).toBe('10.0.0.5');
    // From an untrusted peer nothing changes here (dropUntrustedForwarding has removed it).
    expect(settle('192.0.2.1', '6.6.6.6')).toBe('6.6.6.6');
  });
});
