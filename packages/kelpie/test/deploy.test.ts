import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  defaultBin,
  freePort,
  get,
  type KelpieProcess,
  startKelpie,
  startLoad,
  stopAll,
  waitUntil,
} from '@kelpie/testkit';
import { ensureCommand, findCommand } from '@kelpie/testkit/apt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// The files in deploy/ run with Debian's nginx and haproxy (installed with apt-get when missing;
// a failed install fails the test). Each config is used as shipped, with only its listen
// address, upstream addresses and file paths replaced; the kelpie flags are read from the
// config's own comment, so the documented command line is the one tested. Loopback only.

const deployFile = (path: string) => fileURLToPath(new URL(`../../../deploy/${path}`, import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'kelpie-deploy-'));
// Answers `/` with its arbiter's pid (which instance, which generation) and `/who` with what
// kelpie told it about the request.
const app = join(dir, 'app.mjs');
writeFileSync(
  app,
  `export default (req, res) => {
  const info = req[Symbol.for('kelpie.request-info')];
  if (req.url === '/who') {
    const { scheme, clientAddress: client, peerAddress: peer, trustedPeer: trusted } = info;
    res.end(JSON.stringify({ arbiter: process.ppid, scheme, client, peer, trusted }));
    return;
  }
  setTimeout(() => res.end(String(process.ppid)), 2);
};
`,
);

const helpers = new Set<ChildProcess>();
afterEach(async () => {
  await Promise.all([...helpers].map(stopHelper));
  await stopAll();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Replace each `from` (which must occur) in a shipped file, so a changed file fails loudly here. */
function render(text: string, file: string, replacements: [string | RegExp, string][]): string {
  for (const [from, to] of replacements) {
    const found = typeof from === 'string' ? text.includes(from) : from.test(text);
    if (!found) throw new Error(`deploy/${file} no longer contains ${from}: update this test`);
    text = typeof from === 'string' ? text.replaceAll(from, to) : text.replace(from, to);
  }
  return text;
}

/** The arguments of the `kelpie ...` command a config's comment documents after `label`. */
function documentedArgs(text: string, label: string): string[] {
  const comment = text
    .split('\n')
    .filter((line) => line.startsWith('#'))
    .map((line) => line.replace(/^#\s?/, ''))
    .join('\n')
    .replace(/\\\n\s*/g, ' ');
  const line = comment.split('\n').find((l) => l.trimStart().startsWith(label));
  if (!line) throw new Error(`No "${label}" command line in the config's comment`);
  return line
    .slice(line.indexOf('kelpie ') + 'kelpie '.length)
    .trim()
    .split(/\s+/)
    .map((word) => word.replace(/^'(.*)'$/, '$1'));
}

/** Replace the value after `flag` (which must be there). */
function withFlag(args: string[], flag: string, value: string): string[] {
  const at = args.indexOf(flag);
  if (at < 0) throw new Error(`The documented command has no ${flag}: ${args.join(' ')}`);
  return args.map((arg, i) => (i === at + 1 ? value : arg));
}

/** The documented command with 2 workers, `bind` and this test's app. */
function kelpieArgs(documented: string[], bind: string): string[] {
  const args = withFlag(withFlag(documented, '-w', '2'), '-b', bind);
  expect(args.at(-1)).toBe('app.js');
  return [...args.slice(0, -1), app];
}

/** Install a Debian package in beforeAll (apt-get may take minutes); a failure fails the tests that need it. */
function needCommand(command: string, debianPackage: string): () => string {
  let path: string | undefined;
  beforeAll(async () => {
    const problem = await ensureCommand(command, debianPackage);
    if (problem) throw new Error(`${problem} (these tests need Debian's ${debianPackage})`);
    path = findCommand(command);
  }, 600_000);
  return () => path as string;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** Start nginx or haproxy in the foreground and wait until it accepts on `port`. */
async function startHelper(command: string, args: string[], port: number, logFile?: string): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  helpers.add(child);
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
    helpers.delete(child);
  });
  const fileLog = () => (logFile ? readFileSync(logFile, { encoding: 'utf8', flag: 'a+' }) : '');
  await waitUntil(
    async () => {
      if (exited) throw new Error(`${command} exited at start:\n${output}\n${fileLog()}`);
      return canConnect(port);
    },
    { timeoutMs: 10_000, what: `${command} to listen on port ${port}` },
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${output}\n${fileLog()}`);
  });
  return child;
}

async function stopHelper(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await gone;
  clearTimeout(timer);
}

interface Who {
  arbiter: number;
  scheme: string;
  client: string;
  peer: string;
  trusted: boolean;
}

/** GET /who on a new connection from `localAddress`, with extra (forged) headers. */
function who(
  url: string,
  options: { localAddress?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; who: Who }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/who`,
      { agent: false, localAddress: options.localAddress, headers: { connection: 'close', ...options.headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, who: JSON.parse(body) as Who });
          } catch {
            reject(new Error(`HTTP ${res.statusCode}: ${body}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** One command on HAProxy's stats socket; resolves with its answer. */
function statsCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath, () => socket.end(`${command}\n`));
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

const FORGED = { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' };

describe('behind nginx (deploy/nginx/kelpie.conf)', () => {
  const nginxCommand = needCommand('nginx', 'nginx');
  const shipped = readFileSync(deployFile('nginx/kelpie.conf'), 'utf8');
  const argsA = (port: number) => kelpieArgs(documentedArgs(shipped, 'A:'), `127.0.0.1:${port}`);
  const argsB = (socket: string) => kelpieArgs(documentedArgs(shipped, 'B:'), `unix:${socket}`);

  /** Two kelpie instances (TCP and unix socket) and nginx in front, with the shipped config. */
  async function setUp() {
    const nginx = nginxCommand();
    const prefix = mkdtempSync(join(dir, 'nginx-'));
    const socket = join(prefix, 'b.sock');
    const [a, b] = await Promise.all([startKelpie(argsA(0)), startKelpie(argsB(socket))]);
    const portA = Number(new URL(a.url).port);
    const port = await freePort();
    writeFileSync(
      join(prefix, 'kelpie.conf'),
      render(shipped, 'nginx/kelpie.conf', [
        ['server 127.0.0.1:8001 ', `server 127.0.0.1:${portA} `],
        ['unix:/run/kelpie/b.sock', `unix:${socket}`],
        ['listen 80;', `listen 127.0.0.1:${port};`],
        ['listen [::]:80;', `listen [::1]:${port};`],
      ]),
    );
    for (const temp of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(prefix, temp));
    // The main file Debian's /etc/nginx/nginx.conf would be, with every path in the temp folder.
    // As root, nginx's workers would switch to "nobody", who cannot enter that folder.
    writeFileSync(
      join(prefix, 'nginx.conf'),
      `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 512; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  include ${prefix}/kelpie.conf;
}
`,
    );
    const args = ['-e', `${prefix}/error.log`, '-p', `${prefix}/`, '-c', `${prefix}/nginx.conf`, '-g', 'daemon off;'];
    await startHelper(nginx, args, port, join(prefix, 'error.log'));
    return { a, b, portA, socket, url: `http://127.0.0.1:${port}` };
  }

  it('the app sees the client address and scheme nginx reports, not what the client forged', async () => {
    const { a, b, url } = await setUp();
    // From 127.0.0.2, so the client differs from nginx's own 127.0.0.1.
    const seen = new Map<number, Who>();
    await waitUntil(
      async () => {
        const reply = await who(url, { localAddress: '127.0.0.2', headers: FORGED });
        expect(reply.status).toBe(200);
        seen.set(reply.who.arbiter, reply.who);
        return seen.size === 2;
      },
      { timeoutMs: 10_000, what: 'both instances to answer through nginx' },
    );
    // A over TCP: nginx's address is in --forwarded-allow-ips 127.0.0.1.
    expect(seen.get(a.pid)).toEqual({
      arbiter: a.pid,
      scheme: 'http',
      client: '127.0.0.2',
      peer: '127.0.0.1',
      trusted: true,
    });
    // B over the unix socket: no peer address; a unix socket peer is trusted (as in Gunicorn).
    expect(seen.get(b.pid)).toEqual({ arbiter: b.pid, scheme: 'http', client: '127.0.0.2', peer: '', trusted: true });
  });

  it('a rolling restart (TERM A, start A, then the same for B) under load loses no request', async () => {
    const { a, b, portA, socket, url } = await setUp();
    // 4 keep-alive and 2 new-connection clients, at most 40 s and 100 000 requests.
    const load = startLoad(url, { maxMs: 40_000 });
    const probeFailures: string[] = [];
    /** Wait until nginx sends requests to `kp` (after fail_timeout, if it had marked it down). */
    const servedThroughNginx = (kp: KelpieProcess) =>
      waitUntil(
        async () => {
          const reply = await get(`${url}/`);
          if (reply.status !== 200) probeFailures.push(`HTTP ${reply.status}: ${reply.body}`);
          return reply.body === String(kp.pid);
        },
        { timeoutMs: 10_000, what: `nginx to send requests to the arbiter ${kp.pid}` },
      );
    await load.after(200);
    await a.stop();
    const a2 = await startKelpie(argsA(portA));
    await servedThroughNginx(a2);
    await load.after(200);
    await b.stop();
    const b2 = await startKelpie(argsB(socket));
    await servedThroughNginx(b2);
    await load.after(200);
    const stats = await load.stop();

    expect(stats.failures, JSON.stringify(stats.outcomes)).toEqual([]);
    expect(probeFailures).toEqual([]);
    expect(stats.failed).toBe(0);
    expect(stats.ok).toBeGreaterThan(600);
    // Both instances served under the load, before and after their restart.
    expect([...stats.bodies].sort()).toEqual([a.pid, b.pid, a2.pid, b2.pid].map(String).sort());
    expect(a.log()).toMatch(/Shutting down: Master/);
    expect(b.log()).toMatch(/Shutting down: Master/);
  });
});

describe('behind HAProxy with the PROXY protocol (deploy/haproxy/haproxy.cfg)', () => {
  const haproxyCommand = needCommand('haproxy', 'haproxy');
  const shipped = readFileSync(deployFile('haproxy/haproxy.cfg'), 'utf8');

  it("the app sees the client HAProxy announces; a direct connection without the header is a direct client; /healthz is HAProxy's check", async () => {
    const haproxy = haproxyCommand();
    const prefix = mkdtempSync(join(dir, 'haproxy-'));
    const args = withFlag(
      kelpieArgs(documentedArgs(shipped, 'kelpie '), '127.0.0.1:0'),
      '--metrics-bind',
      '127.0.0.1:0',
    );
    const kp = await startKelpie(args);
    const kelpiePort = new URL(kp.url).port;
    const metricsPort = new URL((await kp.waitForLog(/Metrics at: (\S+)/))[1] as string).port;
    const port = await freePort();
    // Both server lines lead to the one kelpie here. chroot and user need root and Debian's
    // haproxy user; the log goes to stderr instead of syslog.
    const cfg = join(prefix, 'haproxy.cfg');
    const stats = join(prefix, 'admin.sock');
    writeFileSync(
      cfg,
      render(shipped, 'haproxy/haproxy.cfg', [
        [/^ {4}chroot .*\n/m, ''],
        [/^ {4}user .*\n/m, ''],
        [/^ {4}group .*\n/m, ''],
        ['log /dev/log local0', 'log stderr format raw local0'],
        ['/run/haproxy/admin.sock', stats],
        ['bind :80', `bind 127.0.0.1:${port}`],
        ['127.0.0.1:8001', `127.0.0.1:${kelpiePort}`],
        ['127.0.0.1:8002', `127.0.0.1:${kelpiePort}`],
        ['check port 9101', `check port ${metricsPort}`],
        ['check port 9102', `check port ${metricsPort}`],
      ]),
    );
    await startHelper(haproxy, ['-db', '-f', cfg], port);
    const url = `http://127.0.0.1:${port}`;

    // Through HAProxy from 127.0.0.2: the PROXY header makes that the peer; a forged
    // X-Forwarded-For from an untrusted peer is ignored.
    for (let i = 0; i < 4; i++) {
      const through = await who(url, { localAddress: '127.0.0.2', headers: FORGED });
      expect(through).toEqual({
        status: 200,
        who: { arbiter: kp.pid, scheme: 'http', client: '127.0.0.2', peer: '127.0.0.2', trusted: false },
      });
    }
    // Straight to kelpie, no header: served, as the client it is.
    const direct = await who(kp.url, { localAddress: '127.0.0.2' });
    expect(direct).toEqual({
      status: 200,
      who: { arbiter: kp.pid, scheme: 'http', client: '127.0.0.2', peer: '127.0.0.2', trusted: false },
    });
    expect(kp.log()).not.toMatch(/Invalid PROXY header/);

    // HAProxy's HTTP check of /healthz on --metrics-bind passes (L7OK, 200) for both servers.
    await waitUntil(
      async () => {
        const csv = await statsCommand(stats, 'show stat');
        return csv.split('\n').filter((line) => /^kelpie,[ab],/.test(line) && line.includes(',L7OK,200,')).length === 2;
      },
      { timeoutMs: 10_000, what: "HAProxy's health checks to pass" },
    );
  });
});

/** Every effective setting `kelpie --print-config ARGS` reports, with WEB_CONCURRENCY from `env`. */
function printConfig(args: string[], env: Record<string, string> = {}): Record<string, unknown> {
  const output = execFileSync(process.execPath, [defaultBin(), '--print-config', ...args], {
    cwd: dir,
    env: { ...process.env, KELPIE_CMD_ARGS: '', WEB_CONCURRENCY: '', ...env },
    encoding: 'utf8',
  });
  const settings: Record<string, unknown> = {};
  for (const match of output.matchAll(/^(\w+) += (.*?)(?: {2}# .*)?$/gm)) {
    settings[match[1] as string] = JSON.parse(match[2] as string);
  }
  return settings;
}

describe('container files (read, not run: no image registry or cluster here)', () => {
  it('deploy/docker/Dockerfile: exec form, non-root, TERM, a health check on --metrics-bind', () => {
    const text = readFileSync(deployFile('docker/Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
    const instruction = (name: string) => text.match(new RegExp(`^${name} (.*)$`, 'm'))?.[1];
    const entrypoint = JSON.parse(instruction('ENTRYPOINT') ?? 'null') as string[];
    expect(entrypoint.slice(0, 2)).toEqual(['/usr/bin/tini', '--']);
    const cmd = JSON.parse(instruction('CMD') ?? 'null') as string[];
    expect(instruction('USER')).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    expect(instruction('STOPSIGNAL')).toBe('SIGTERM');
    const settings = printConfig(cmd, { WEB_CONCURRENCY: '3' });
    expect(settings.workers).toBe(3);
    const metricsPort = String(settings.metricsBind).split(':').at(-1);
    expect(instruction('HEALTHCHECK')).toContain(`http://127.0.0.1:${metricsPort}/healthz`);
    expect(instruction('EXPOSE')?.split(' ')).toContain(metricsPort);
  });

  it('deploy/kubernetes/deployment.yaml: parses; probes, grace period, workers and selectors agree', () => {
    const documents = parseAllDocuments(readFileSync(deployFile('kubernetes/deployment.yaml'), 'utf8'));
    for (const document of documents) expect(document.errors).toEqual([]);
    const [deployment, service, budget] = documents.map((document) => document.toJS()) as Manifest[];
    expect([deployment?.kind, service?.kind, budget?.kind]).toEqual(['Deployment', 'Service', 'PodDisruptionBudget']);
    const pod = deployment!.spec.template!.spec!;
    const container = pod.containers[0]!;
    const limit = container.resources.limits.cpu;
    expect(limit).toMatch(/^[1-9]\d*$/);
    expect(container.env.find((e) => e.name === 'WEB_CONCURRENCY')?.valueFrom?.resourceFieldRef).toEqual({
      resource: 'limits.cpu',
      divisor: '1',
    });
    // The args as kelpie reads them, with the worker count Kubernetes would put in WEB_CONCURRENCY.
    const settings = printConfig(container.args, { WEB_CONCURRENCY: limit });
    expect(settings.workers).toBe(Number(limit));
    const metricsPort = Number(String(settings.metricsBind).split(':').at(-1));
    expect(container.ports.find((p) => p.name === 'metrics')?.containerPort).toBe(metricsPort);
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect(probe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    }
    const preStop = container.lifecycle.preStop.sleep.seconds;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop + Number(settings.gracefulTimeout));
    expect(deployment!.spec.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    const labels = deployment!.spec.template!.metadata.labels;
    expect(labels).toMatchObject(service!.spec.selector!);
    expect(labels).toMatchObject(budget!.spec.selector!.matchLabels);
    expect(budget!.spec.minAvailable).toBeLessThan(deployment!.spec.replicas!);
  });
});

/** The parts of the manifests the test reads. */
interface Manifest {
  kind: string;
  spec: {
    replicas?: number;
    minAvailable?: number;
    selector?: { matchLabels: Record<string, string> } & Record<string, unknown>;
    strategy?: { rollingUpdate?: { maxUnavailable?: number } };
    template?: {
      metadata: { labels: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        containers: {
          args: string[];
          env: { name: string; valueFrom?: { resourceFieldRef?: unknown } }[];
          ports: { name: string; containerPort: number }[];
          resources: { limits: { cpu: string } };
          readinessProbe: { httpGet: unknown };
          livenessProbe: { httpGet: unknown };
          lifecycle: { preStop: { sleep: { seconds: number } } };
        }[];
      };
    };
  };
}
