import { STATUS_CODES } from '../node-http.js';

/**
 * Raw HTTP/1.1 responses: the bytes kelpie writes itself on a socket that no `ServerResponse`
 * owns (a parser error, a refused upgrade or CONNECT, plain HTTP on the TLS port, a bad PROXY
 * header, the threads class's 503 for a stuck handler). Every one closes the connection.
 */

/**
 * The response text: the status line, `Connection: close`, `Content-Type: text/plain;
 * charset=utf-8` unless `headers` names a Content-Type, `headers` as given, `Content-Length`,
 * then the body.
 */
export function rawResponse(
  status: number,
  body: string,
  headers: Readonly<Record<string, string | number>> = {},
): string {
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}`, 'Connection: close'];
  const names = Object.keys(headers).map((name) => name.toLowerCase());
  if (!names.includes('content-type')) lines.push('Content-Type: text/plain; charset=utf-8');
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}
