/**
 * The environment a worker starts with: kelpie's own, plus what apps that start their own server
 * read (SPEC.md 1.11): `PORT` and `HOST` name kelpie's first TCP bind, and `NODE_ENV` is
 * `production` unless set (as `next start` does; React and others load development builds
 * without it). A variable set with -e/--env keeps its value.
 */
export function workerEnvironment(
  env: NodeJS.ProcessEnv,
  urls: readonly string[],
  explicit: readonly string[],
): NodeJS.ProcessEnv {
  const named = new Set(explicit.map((pair) => pair.slice(0, pair.indexOf('='))));
  const result = { ...env };
  const tcp = urls.find((url) => /^https?:/.test(url));
  if (tcp) {
    const url = new URL(tcp);
    if (!named.has('PORT')) result.PORT = url.port || (url.protocol === 'https:' ? '443' : '80');
    if (!named.has('HOST')) result.HOST = url.hostname.replace(/^\[|\]$/g, '');
  }
  if (result.NODE_ENV === undefined) result.NODE_ENV = 'production';
  return result;
}
