/**
 * Throw-away TLS certificates for tests and the bench, made with the openssl command (installed
 * from Debian's package when missing): a self-signed certificate for localhost and 127.0.0.1, or
 * a small CA with a server and a client certificate for client-certificate tests; and kelpie's
 * arguments to serve them (tlsArgs).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureCommand, findCommand } from './apt.js';

const run = promisify(execFile);

export interface Certificates {
  dir: string;
  /** Server certificate and key (PEM files), valid for localhost, 127.0.0.1 and ::1. */
  cert: string;
  key: string;
  /** The CA that signed the server and client certificates. */
  ca: string;
  /** A client certificate and key signed by `ca`. */
  clientCert: string;
  clientKey: string;
  /** A second key that does not match `cert`. */
  otherKey: string;
  /** File contents, for clients. */
  read(file: string): Buffer;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const missing = await ensureCommand('openssl', 'openssl');
  if (missing) throw new Error(`openssl is needed for throw-away certificates: ${missing}`);
  await run(findCommand('openssl') as string, args, { cwd });
}

/** Make a CA, a server certificate (localhost, 127.0.0.1, ::1) and a client certificate in a new temp folder. */
export async function makeCertificates(): Promise<Certificates> {
  const dir = mkdtempSync(join(tmpdir(), 'kelpie-certs-'));
  const key = ['-newkey', 'rsa:2048', '-nodes'];
  await openssl(
    ['req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=kelpie test CA'],
    dir,
  );
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n');
  // A key and a certificate signed by the CA, for `name`.
  const issue = async (name: string, subject: string, extra: string[] = []) => {
    await openssl(['req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
    const ca = ['-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'];
    await openssl(['x509', '-req', '-in', `${name}.csr`, ...ca, '-days', '2', ...extra, '-out', `${name}.pem`], dir);
  };
  await issue('server', '/CN=localhost', ['-extfile', 'server.ext']);
  await issue('client', '/CN=kelpie test client');
  await openssl(['genpkey', '-algorithm', 'RSA', '-out', 'other.key'], dir);
  return {
    dir,
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
    ca: join(dir, 'ca.pem'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    otherKey: join(dir, 'other.key'),
    read: (file) => readFileSync(file),
  };
}

/**
 * kelpie's arguments to serve TLS with a certificate and its key (`makeCertificates()`'s server
 * pair, or files of the test's own), and HTTP/2 as well when `protocols` is given
 * (`--http-protocols h2,h1`).
 */
export function tlsArgs(certs: Pick<Certificates, 'cert' | 'key'>, protocols?: string): string[] {
  const args = ['--certfile', certs.cert, '--keyfile', certs.key];
  return protocols ? [...args, '--http-protocols', protocols] : args;
}
