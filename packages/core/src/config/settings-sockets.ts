import { addressPatterns, integer, invalid, nonEmptyString, oneOf, stringList } from './parsers.js';
import { define, restartOnly, switchSetting } from './setting-def.js';

/**
 * The sockets kelpie listens on: addresses, the PROXY protocol, sticky sessions, TLS and HTTP/2 (sections Server Socket and SSL).
 * Entries of the settings table (settings.ts assembles them, in the order of --help and docs/settings.md).
 */

/** Server Socket and SSL. */
export const socketSettings = {
  bind: restartOnly(
    define<string[]>({
      section: 'Server Socket',
      flags: ['-b', '--bind'],
      meta: 'ADDRESS',
      multiple: true,
      default: (env) => (env.PORT ? [`0.0.0.0:${env.PORT}`] : ['127.0.0.1:8000']),
      defaultText: '127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set',
      parse: stringList(),
      help: 'The socket to bind: HOST, HOST:PORT, [IPV6]:PORT, unix:PATH or fd://FD. Repeatable.',
      doc: 'Every address is bound by the arbiter before any worker starts; workers inherit the listening sockets. Port 0 picks a free port (logged in "Listening at").',
    }),
  ),
  backlog: define<number>({
    section: 'Server Socket',
    flags: ['--backlog'],
    meta: 'INT',
    default: () => 2048,
    defaultText: '2048',
    parse: integer(1, 65535),
    help: 'The maximum number of pending connections.',
    doc: 'Passed to listen(2). Under `-k sync` it also bounds the connections waiting in the arbiter for a free worker; beyond it new connections are closed with a warning.',
  }),
  reusePort: restartOnly(
    switchSetting(
      'Server Socket',
      ['--reuse-port'],
      'Each worker also binds its own SO_REUSEPORT socket on every TCP address, so the kernel spreads connections over workers.',
      "Needs Node.js 22.12 or later (net.Server's `reusePort`); older versions stop with an error saying so. The arbiter still binds every address (with SO_REUSEPORT) and workers serve that socket too, so port 0, USR2 and socket activation work as without the flag. A worker that stops closes its own socket: connections the kernel had already queued on it are reset, which the shared socket alone avoids. So does a worker at --worker-connections, until it has room again (then it binds a new one). Not used by `-k sync`, whose arbiter accepts every connection.",
    ),
  ),
  proxyProtocol: define<'off' | 'v1' | 'v2' | 'auto'>({
    section: 'Server Socket',
    flags: ['--proxy-protocol'],
    meta: 'MODE',
    default: () => 'off',
    defaultText: 'off',
    parse: (raw, name) => {
      if (raw === true) return 'auto';
      if (raw === false) return 'off';
      return oneOf(['off', 'v1', 'v2', 'auto'] as const)(raw, name);
    },
    help: 'Read a PROXY protocol header (HAProxy, AWS NLB) first on every connection: off, v1, v2 or auto (either).',
    doc: "The client address and port in the header become the connection's peer (`req.socket.remoteAddress`, request info, framework `req.ip`). A connection that does not start with a header is served as a direct client (its peer stays the socket's), as in Gunicorn; a malformed header gets 400 and the connection is closed; a header from a peer outside --proxy-allow-from is refused (403, or closed when TLS is on); each is logged. `--proxy-protocol` with no value means auto, as in Gunicorn. A `LOCAL` v2 header (health checks) keeps the real peer.",
  }),
  proxyAllowFrom: define<string[]>({
    section: 'Server Socket',
    flags: ['--proxy-allow-from'],
    meta: 'LIST',
    default: () => ['127.0.0.1', '::1'],
    defaultText: '127.0.0.1,::1',
    parse: addressPatterns,
    help: 'Peers allowed to send a PROXY protocol header: IPs, CIDR ranges, or * for any.',
  }),
  sticky: restartOnly(
    switchSetting(
      'Server Socket',
      ['--sticky'],
      "Sticky sessions: every connection of one client goes to the same worker, chosen by the client's address (socket.io's long-polling needs this with several workers).",
      "The arbiter accepts every connection instead of the workers and hands it to a worker over IPC, chosen by rendezvous hashing of the client address over the worker slots: the peer address, or the address in the PROXY header under --proxy-protocol (from peers in --proxy-allow-from; the arbiter reads that header itself, within --header-timeout). A replaced worker's successor takes its slot, and its clients come back to it once it is ready; meanwhile, and for a worker that is stopping, they go to their second choice. TTIN moves about 1/N of the clients to the new worker, TTOU only those of the worker that leaves; after HUP the new generation takes the same slots. X-Forwarded-For is not used: a proxy's keep-alive connection carries many clients. Behind an HTTP proxy, every connection comes from the proxy's address and lands on one worker: have the proxy send the PROXY protocol, or balance by client address in front of several instances (nginx `ip_hash`); docs/frameworks.md has the recipes. For -k async and -k ws (and third-party classes that declare `static sticky = true`); refused with -k sync, -k threads and --reuse-port. A worker at --worker-connections closes a connection sent to it. Not changed by HUP. Costs throughput on short connections: every connection passes through the arbiter (docs/benchmarks.md).",
    ),
  ),
  certfile: define<string | null>({
    section: 'SSL',
    flags: ['--certfile'],
    meta: 'FILE',
    default: () => null,
    defaultText: 'none',
    parse: nonEmptyString,
    help: 'Serve HTTPS: the certificate chain (PEM). Needs --keyfile.',
    doc: 'Relative paths are relative to --chdir. The arbiter reads the files (before dropping to --user) and checks that certificate and key match before binding; workers get their contents. HUP reads them again, so a renewed certificate is picked up by the new workers.',
  }),
  keyfile: define<string | null>({
    section: 'SSL',
    flags: ['--keyfile'],
    meta: 'FILE',
    default: () => null,
    defaultText: 'none',
    parse: nonEmptyString,
    help: 'The private key of --certfile (PEM).',
  }),
  caCerts: define<string | null>({
    section: 'SSL',
    flags: ['--ca-certs'],
    meta: 'FILE',
    default: () => null,
    defaultText: 'none',
    parse: nonEmptyString,
    help: 'CA certificates (PEM) that client certificates are checked against (--cert-reqs).',
  }),
  certReqs: define<'none' | 'optional' | 'required'>({
    section: 'SSL',
    flags: ['--cert-reqs'],
    meta: 'MODE',
    default: () => 'none',
    defaultText: 'none',
    parse: (raw, name) => {
      const numeric: Record<string, 'none' | 'optional' | 'required'> = { 0: 'none', 1: 'optional', 2: 'required' };
      const key = typeof raw === 'number' ? String(raw) : raw;
      if (typeof key === 'string' && numeric[key.trim()]) return numeric[key.trim()] as 'none';
      return oneOf(['none', 'optional', 'required'] as const)(raw, name);
    },
    help: "Client certificates: none, optional (checked when sent) or required; Gunicorn's 0, 1, 2 work too.",
    doc: 'With `optional` or `required`, --ca-certs is needed. A client without a valid certificate fails the handshake under `required`; under `optional` its requests arrive with `req.socket.authorized` false.',
  }),
  ciphers: define<string | null>({
    section: 'SSL',
    flags: ['--ciphers'],
    meta: 'LIST',
    default: () => null,
    defaultText: "Node's default",
    parse: nonEmptyString,
    help: 'The TLS 1.2 cipher list, in OpenSSL format (TLS 1.3 suites are always on).',
  }),
  httpProtocols: define<('h1' | 'h2')[]>({
    section: 'SSL',
    flags: ['--http-protocols'],
    meta: 'LIST',
    default: () => ['h1'],
    defaultText: 'h1',
    parse: (raw, name) => {
      const items = (Array.isArray(raw) ? raw : String(raw).split(',')).map((item) =>
        String(item).trim().toLowerCase(),
      );
      if (
        items.length === 0 ||
        items.some((item) => item !== 'h1' && item !== 'h2') ||
        new Set(items).size !== items.length
      ) {
        throw invalid(name, raw, 'h1, h2 or both (h2,h1), each once');
      }
      return items as ('h1' | 'h2')[];
    },
    help: 'The HTTP versions to serve: h1, or h2,h1 for HTTP/2 over TLS (ALPN) with HTTP/1.1 for clients without it.',
    doc: 'HTTP/2 needs --certfile and --keyfile: browsers speak it only over TLS, and clients choose it during the handshake (ALPN); `h2` alone refuses HTTP/1.1 clients. Apps see the same interface over both versions: Node listeners get `http2` compatibility request and response objects (`req.httpVersion` is `2.0`), fetch apps the same Request and Response. WebSocket upgrades use HTTP/1.1 connections.',
  }),
} as const;
