import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { Settings } from '../config/settings.js';
import { KelpieError } from '../errors.js';

/**
 * TLS for every listener (--certfile, --keyfile, --ca-certs, --cert-reqs, --ciphers). The
 * arbiter reads the files, checks them before binding and hands their contents to the workers,
 * which then need no access to the key files (they may run as --user) and get a renewed
 * certificate on HUP.
 */

/** PEM contents, as the arbiter read them. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca?: string;
}

// node:tls is loaded only when TLS is on: a plain HTTP worker does not pay its memory.
const createSecureContext = (options: SecureContextOptions) =>
  (createRequire(import.meta.url)('node:tls') as typeof import('node:tls')).createSecureContext(options);

type TlsSettings = Pick<Settings, 'certfile' | 'keyfile' | 'caCerts' | 'certReqs' | 'ciphers' | 'chdir'>;

function readPem(flag: string, file: string, cwd: string): string {
  const path = resolve(cwd, file);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new KelpieError('KELPIE_ERR_TLS', `Cannot read ${flag} ${path}: ${why}.`);
  }
}

/** What OpenSSL said, in words a user can act on. */
function explain(error: Error, settings: TlsSettings): string {
  const text = error.message;
  if (/key values mismatch|KEY_VALUES_MISMATCH/i.test(text)) {
    return `--keyfile ${settings.keyfile} is not the private key of --certfile ${settings.certfile} (${text})`;
  }
  if (/no cipher match|NO_CIPHER_MATCH/i.test(text)) {
    return `--ciphers ${JSON.stringify(settings.ciphers)} names no cipher OpenSSL knows (${text})`;
  }
  if (/bad decrypt|BAD_DECRYPT|interrupted or cancelled/i.test(text)) {
    return `--keyfile ${settings.keyfile} is encrypted; kelpie needs an unencrypted key (${text})`;
  }
  return text;
}

/** Which file OpenSSL cannot read, tried one at a time. */
function unreadable(material: TlsMaterial, settings: TlsSettings): string | undefined {
  const attempts: [string, SecureContextOptions][] = [
    [`--certfile ${settings.certfile} is not a PEM certificate`, { cert: material.cert }],
    [`--keyfile ${settings.keyfile} is not an unencrypted PEM private key`, { key: material.key }],
  ];
  if (material.ca)
    attempts.push([`--ca-certs ${settings.caCerts} is not a list of PEM certificates`, { ca: material.ca }]);
  for (const [problem, options] of attempts) {
    try {
      createSecureContext(options);
    } catch (error) {
      return `${problem} (${(error as Error).message})`;
    }
  }
  return undefined;
}

/** Read and check the TLS files; undefined when TLS is off. Throws KELPIE_ERR_TLS naming the file and the problem. */
export function loadTlsMaterial(settings: TlsSettings): TlsMaterial | undefined {
  if (!settings.certfile || !settings.keyfile) return undefined;
  const cwd = settings.chdir;
  const material: TlsMaterial = {
    cert: readPem('--certfile', settings.certfile, cwd),
    key: readPem('--keyfile', settings.keyfile, cwd),
    ...(settings.caCerts ? { ca: readPem('--ca-certs', settings.caCerts, cwd) } : {}),
  };
  try {
    createSecureContext(secureContextOptions(material, settings));
  } catch (error) {
    const problem = unreadable(material, settings) ?? explain(error as Error, settings);
    throw new KelpieError('KELPIE_ERR_TLS', `TLS setup failed: ${problem}.`, { cause: error });
  }
  return material;
}

function secureContextOptions(material: TlsMaterial, settings: Pick<TlsSettings, 'ciphers'>): SecureContextOptions {
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca ? { ca: material.ca } : {}),
    ...(settings.ciphers ? { ciphers: settings.ciphers } : {}),
  };
}

/** Options for `https.createServer` / `http2.createSecureServer`. */
export function tlsServerOptions(
  material: TlsMaterial,
  settings: Pick<Settings, 'ciphers' | 'certReqs' | 'httpProtocols' | 'headerTimeout'>,
): TlsOptions {
  const alpn = settings.httpProtocols.map((protocol) => (protocol === 'h2' ? 'h2' : 'http/1.1'));
  return {
    ...secureContextOptions(material, settings),
    requestCert: settings.certReqs !== 'none',
    rejectUnauthorized: settings.certReqs === 'required',
    ALPNProtocols: alpn,
    // A client that never finishes the handshake is dropped like one that never finishes its
    // request head (Node's default would wait 120 s).
    ...(settings.headerTimeout > 0 ? { handshakeTimeout: settings.headerTimeout * 1000 } : {}),
  };
}
