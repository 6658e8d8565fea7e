/**
 * PM2 in cluster mode, as it is commonly used to run Node apps on every core. PM2 runs its own
 * daemon (the cluster primary), so it gets a private PM2_HOME in a temp dir: a user's PM2 is
 * never touched, and `pm2 kill` plus removing the dir leaves nothing behind. The daemon is the
 * top process; every instance is its child. The daemon runs on the Node that ran its CLI, so the
 * CLI runs on the scenario's Node. An app that calls its own listen() is the instances' script,
 * unchanged (`pm2 start server.js -i N`), with the loopback preload in `node_args`.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Peer } from '../types.js';
import { benchNode } from './node-runtime.js';
import { appFile, appsDir, LISTENING_APPS, loopbackPreload, packageFile } from './paths.js';
import { readProcess } from './process-tree.js';
import { waitUntilServing } from './readiness.js';
import { runningServer, signal, stopTree, whenServing } from './spawn.js';
import { assertSupports } from './supports.js';

const CLI_TIMEOUT_MS = 30_000;

/** Runs the pm2 CLI against the private home; rejects with its output if it fails. */
function pm2Cli(node: string, home: string, env: Record<string, string>, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      node,
      [packageFile('pm2', 'bin/pm2'), ...args],
      { env: { ...process.env, ...env, PM2_HOME: home }, timeout: CLI_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`pm2 ${args[0]} failed: ${error.message}\n${stdout}${stderr}`.trim()));
        else resolve();
      },
    );
  });
}

function readLog(home: string, file: string): string {
  try {
    return readFileSync(join(home, file), 'utf8');
  } catch {
    return '';
  }
}

/** The daemon's and the instances' logs, for failure messages. */
function logs(home: string): string {
  return ['pm2.log', 'out.log', 'error.log'].map((file) => readLog(home, file)).join('');
}

export const pm2: Peer = {
  name: 'pm2',
  label: 'PM2 cluster mode',
  prepare: async () => undefined,
  start: async ({ scenario, workers, port, env, node = benchNode }) => {
    assertSupports('pm2', scenario, { apps: ['plain', 'express', 'koa', ...LISTENING_APPS] });
    const listening = LISTENING_APPS.includes(scenario.app);
    const home = await mkdtemp(join(tmpdir(), 'kelpie-bench-pm2-'));
    const cli = (args: string[]) => pm2Cli(node.path, home, env, args);
    const ecosystem = join(home, 'ecosystem.json');
    const app = {
      name: 'bench',
      script: listening ? appFile(scenario.app) : join(appsDir, 'pm2-server.mjs'),
      ...(listening ? { node_args: ['--require', loopbackPreload] } : {}),
      exec_mode: 'cluster',
      instances: workers,
      autorestart: false,
      merge_logs: true,
      out_file: join(home, 'out.log'),
      error_file: join(home, 'error.log'),
      env: { ...env, PORT: String(port), BENCH_APP: scenario.app },
    };
    await writeFile(ecosystem, JSON.stringify({ apps: [app] }));

    // The daemon writes its pid file as it starts; the CLI returns once the instances are launched.
    let daemonPid: number | undefined;
    const readDaemonPid = async (): Promise<number | undefined> =>
      Number(await readFile(join(home, 'pm2.pid'), 'utf8').catch(() => '')) || undefined;
    const stop = async (): Promise<void> => {
      try {
        const pid = daemonPid ?? (await readDaemonPid());
        if (pid !== undefined) {
          await stopTree(pid, () => cli(['kill']).catch(() => signal(pid, 'SIGTERM')));
        }
      } finally {
        await rm(home, { recursive: true, force: true });
      }
    };
    try {
      await cli(['start', ecosystem]);
      daemonPid = await readDaemonPid();
      if (daemonPid === undefined) throw new Error(`pm2 started but left no pid file in ${home}:\n${logs(home)}`);
    } catch (error) {
      await stop().catch(() => {});
      throw error;
    }

    const pid = daemonPid;
    const server = runningServer(pid, stop);
    server.reload = () => cli(['reload', 'bench']);
    return whenServing(server, () =>
      waitUntilServing(port, scenario, {
        name: 'pm2',
        // Each instance logs a line once it listens (pm2-server.mjs, or the loopback preload);
        // PM2's "online" comes earlier.
        until: () => (readLog(home, 'out.log').match(/^listening:/gm)?.length ?? 0) >= workers,
        failed: () => (readProcess(pid) ? undefined : 'daemon exited'),
        output: () => logs(home),
      }),
    );
  },
};
