import { isIPv4, isIPv6, type Socket } from 'node:net';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../observability/logger.js';
import { ipv6FromBytes, peerTrust } from './forwarded.js';
import { applyProxyHeader } from './proxy-header.js';
import { rawResponse } from './raw-response.js';

/**
 * The PROXY protocol (HAProxy's, versions 1 and 2): a load balancer that passes TCP through
 * writes one header before the client's bytes, naming the client's address. kelpie reads it
 * before HTTP or TLS see the connection and makes that address the connection's peer
 * (`socket.remoteAddress`), so request info, access logs and frameworks report the client.
 *
 * As in Gunicorn, the header is read only at the start of a connection; a connection that does
 * not start with one is served as a direct client (its peer stays the socket's). A header from a
 * peer outside --proxy-allow-from is refused, a malformed one closes the connection; both are
 * logged.
 */

export interface ProxyHeader {
  version: 1 | 2;
  /** LOCAL (v2): the balancer's own connection, a health check: the socket's peer is kept. */
  command: 'PROXY' | 'LOCAL';
  /** TCP4/TCP6 carry addresses; UNKNOWN (v1) or other families (v2) do not. */
  family: 'TCP4' | 'TCP6' | 'UNKNOWN';
  sourceAddress?: string;
  sourcePort?: number;
  destinationAddress?: string;
  destinationPort?: number;
}

export type ProxyMode = 'v1' | 'v2' | 'auto';

const V1_PREFIX = Buffer.from('PROXY ');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** v1: "PROXY TCP6 " + two IPv6 addresses + two ports + CRLF fit in 107 bytes. */
const V1_MAX = 107;
/** v2: 16 bytes, then addresses and TLVs; larger headers are not something a balancer sends. */
const V2_MAX_BODY = 4096;
/** The longest header kelpie accepts: v2's fixed 16 bytes and its largest body (v1 is shorter). */
export const PROXY_HEADER_MAX = 16 + V2_MAX_BODY;

export class ProxyHeaderError extends Error {}

/** The header at the start of `data`: parsed with its length, `incomplete`, or `absent`. */
export function parseProxyHeader(
  data: Buffer,
  mode: ProxyMode,
): { header: ProxyHeader; length: number } | 'incomplete' | 'absent' {
  // Nothing yet (or a connection closed before sending anything): no verdict.
  if (data.length === 0) return 'incomplete';
  const startsWith = (prefix: Buffer) =>
    data.subarray(0, prefix.length).equals(prefix.subarray(0, Math.min(prefix.length, data.length)));
  if (startsWith(V1_PREFIX)) {
    if (mode === 'v2') throw new ProxyHeaderError('a PROXY v1 header where --proxy-protocol v2 expects v2');
    if (data.length < V1_PREFIX.length) return 'incomplete';
    return parseV1(data);
  }
  if (startsWith(V2_SIGNATURE)) {
    if (mode === 'v1') throw new ProxyHeaderError('a PROXY v2 header where --proxy-protocol v1 expects v1');
    if (data.length < 16) return 'incomplete';
    return parseV2(data);
  }
  return 'absent';
}

const PORT = /^(0|[1-9]\d{0,4})$/;

function parseV1(data: Buffer): { header: ProxyHeader; length: number } | 'incomplete' {
  const end = data.subarray(0, V1_MAX).indexOf('\r\n');
  if (end === -1) {
    if (data.length >= V1_MAX) throw new ProxyHeaderError(`PROXY v1 line longer than ${V1_MAX} bytes`);
    return 'incomplete';
  }
  const line = data.subarray(0, end).toString('latin1');
  const parts = line.split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { header: { version: 1, command: 'PROXY', family: 'UNKNOWN' }, length };
  if (parts.length !== 6) throw new ProxyHeaderError(`PROXY v1 line without 6 fields: ${JSON.stringify(line)}`);
  const [, family, source, destination, sourcePort, destinationPort] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (family !== 'TCP4' && family !== 'TCP6') {
    throw new ProxyHeaderError(`PROXY v1 protocol ${JSON.stringify(family)} is not TCP4, TCP6 or UNKNOWN`);
  }
  const valid = family === 'TCP4' ? isIPv4 : isIPv6;
  if (!valid(source) || !valid(destination)) {
    throw new ProxyHeaderError(`PROXY v1 addresses are not ${family}: ${source} ${destination}`);
  }
  for (const port of [sourcePort, destinationPort]) {
    if (!PORT.test(port) || Number(port) > 65535) throw new ProxyHeaderError(`PROXY v1 port out of range: ${port}`);
  }
  return {
    header: {
      version: 1,
      command: 'PROXY',
      family,
      sourceAddress: source,
      destinationAddress: destination,
      sourcePort: Number(sourcePort),
      destinationPort: Number(destinationPort),
    },
    length,
  };
}

function parseV2(data: Buffer): { header: ProxyHeader; length: number } | 'incomplete' {
  const versionCommand = data[12] as number;
  if (versionCommand >> 4 !== 2) throw new ProxyHeaderError(`PROXY v2 header with version ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 1) throw new ProxyHeaderError(`PROXY v2 header with unknown command ${command}`);
  const familyByte = data[13] as number;
  const bodyLength = data.readUInt16BE(14);
  if (bodyLength > V2_MAX_BODY) throw new ProxyHeaderError(`PROXY v2 header of ${bodyLength} bytes is too long`);
  const length = 16 + bodyLength;
  if (data.length < length) return 'incomplete';
  if (command === 0) return { header: { version: 2, command: 'LOCAL', family: 'UNKNOWN' }, length };
  const body = data.subarray(16, length);
  if (familyByte === 0x11) {
    if (bodyLength < 12) throw new ProxyHeaderError('PROXY v2 TCP4 header shorter than its addresses');
    return {
      header: {
        version: 2,
        command: 'PROXY',
        family: 'TCP4',
        sourceAddress: [...body.subarray(0, 4)].join('.'),
        destinationAddress: [...body.subarray(4, 8)].join('.'),
        sourcePort: body.readUInt16BE(8),
        destinationPort: body.readUInt16BE(10),
      },
      length,
    };
  }
  if (familyByte === 0x21) {
    if (bodyLength < 36) throw new ProxyHeaderError('PROXY v2 TCP6 header shorter than its addresses');
    return {
      header: {
        version: 2,
        command: 'PROXY',
        family: 'TCP6',
        sourceAddress: ipv6FromBytes(body.subarray(0, 16)),
        destinationAddress: ipv6FromBytes(body.subarray(16, 32)),
        sourcePort: body.readUInt16BE(32),
        destinationPort: body.readUInt16BE(34),
      },
      length,
    };
  }
  if (familyByte === 0x12 || familyByte === 0x22) {
    throw new ProxyHeaderError('PROXY v2 header for UDP; only TCP connections are served');
  }
  // UNSPEC or a unix socket: no usable address, the socket's peer is kept.
  return { header: { version: 2, command: 'PROXY', family: 'UNKNOWN' }, length };
}

export { applyProxyHeader, inheritProxyHeader, PROXY_HEADER, proxyHeaderOf } from './proxy-header.js';

export interface ProxyReaderOptions {
  settings: Pick<Settings, 'proxyProtocol' | 'proxyAllowFrom' | 'headerTimeout'>;
  log: Logger;
  /** The connection is TLS: refusals close it instead of answering in HTTP. */
  tls: boolean;
}

/**
 * Returns a function that reads the PROXY header of a new (paused) connection, then hands the
 * socket on with the header's bytes consumed and everything after them still to be read.
 */
export function proxyHeaderReader(
  options: ProxyReaderOptions,
): (socket: Socket, next: (socket: Socket) => void) => void {
  const { settings, log, tls } = options;
  const mode = settings.proxyProtocol as ProxyMode;
  const allowed = peerTrust(settings.proxyAllowFrom);
  const timeoutMs = (settings.headerTimeout || 10) * 1000;
  const refuse = (socket: Socket, status: 400 | 403, reason: string) => {
    log.warning(`Invalid PROXY header from ip=${socket.remoteAddress ?? '-'}: ${reason}`);
    if (tls || !socket.writable) {
      socket.destroy();
      return;
    }
    const text = status === 403 ? 'Forbidden' : 'Bad Request';
    const body = `${text}: ${reason}\n`;
    // Closed in full once the client has read the answer, or a second later regardless.
    socket.setTimeout(1000, () => socket.destroy());
    socket.end(rawResponse(status, body));
  };
  return (socket, next) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => {
      finish();
      refuse(socket, 400, `no complete PROXY header within ${timeoutMs / 1000} s`);
    }, timeoutMs);
    timer.unref();
    const finish = () => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('error', onError);
      socket.off('end', onEnd);
    };
    const onError = () => {
      finish();
      socket.destroy();
    };
    const onEnd = () => {
      finish();
      socket.destroy();
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      // biome-ignore lint/suspicious/noAssignInExpressions: the stream reading idiom
      while ((chunk = socket.read() as Buffer | null) !== null) buffered = Buffer.concat([buffered, chunk]);
      let parsed: ReturnType<typeof parseProxyHeader>;
      try {
        parsed = parseProxyHeader(buffered, mode);
      } catch (error) {
        finish();
        refuse(socket, 400, (error as Error).message);
        return;
      }
      if (parsed === 'incomplete') return;
      finish();
      if (parsed === 'absent') {
        socket.unshift(buffered);
        next(socket);
        return;
      }
      // A unix socket peer has no address: it is a local process, allowed as in Gunicorn.
      if (socket.remoteAddress !== undefined && !allowed(socket.remoteAddress)) {
        refuse(socket, 403, 'this peer is not in --proxy-allow-from');
        return;
      }
      applyProxyHeader(socket, parsed.header);
      const rest = buffered.subarray(parsed.length);
      if (rest.length > 0) socket.unshift(rest);
      next(socket);
    };
    socket.on('readable', onReadable);
    socket.on('error', onError);
    socket.on('end', onEnd);
  };
}
