/**
 * nginx answering `return 200` from its config: no application at all, so it is the machine's
 * ceiling for tiny responses rather than a competitor. Runs from a private prefix in a temp dir
 * with `daemon off;`, so it is our child and leaves nothing in /var. Serves /hello only.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCommand, findCommand } from '@kelpie/testkit/apt';
import type { Peer } from '../types.js';
import { processTree } from './process-tree.js';
import { startServer } from './spawn.js';
import { assertSupports } from './supports.js';

function config(dir: string, workers: number, port: number): string {
  return `daemon off;
master_process on;
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;

events {
  # The default 512 per worker is below what a high-connection scenario opens.
  worker_connections 4096;
}

http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # nginx closes a keep-alive connection after 1000 requests by default; the Node sides never do.
  keepalive_requests 1000000;

  server {
    listen 127.0.0.1:${port};
    location = /hello {
      default_type text/plain;
      return 200 "Hello, World!\\n";
    }
  }
}
`;
}

export const nginx: Peer = {
  name: 'nginx',
  label: 'nginx return 200 (ceiling)',
  prepare: () => ensureCommand('nginx', 'nginx'),
  start: async ({ scenario, workers, port, env }) => {
    assertSupports('nginx', scenario, { paths: ['/hello'] });
    const dir = await mkdtemp(join(tmpdir(), 'kelpie-bench-nginx-'));
    const conf = join(dir, 'nginx.conf');
    const cleanup = () => rm(dir, { recursive: true, force: true });
    await writeFile(conf, config(dir, workers, port)).catch(async (error: unknown) => {
      await cleanup();
      throw error;
    });
    return startServer({
      name: 'nginx',
      command: findCommand('nginx') ?? 'nginx',
      // -e: the startup error log too, before the config is read (else /var/log/nginx/error.log).
      args: ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')],
      env,
      port,
      scenario,
      until: (server) => processTree(server.pid).length > workers,
      cleanup,
    });
  },
};
