#!/usr/bin/env node
// Crash loops (issue 17, item 2): how often kelpie -w 2 boots workers, and what that costs the
// arbiter, when every worker dies 50 ms after it boots (`boot`) or when a handler calls
// process.exit(1) and one client keeps asking (`exit`). Extra arguments go to kelpie, e.g.
// `--worker-restart-delay 0` turns the backoff off (the behaviour before it). See README.md.
//   node apps/bench/experiments/crash-loop/run.mjs boot|exit [kelpie args...]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

const [mode, ...extra] = process.argv.slice(2);
if (mode !== 'boot' && mode !== 'exit') throw new Error('usage: run.mjs boot|exit [kelpie args...]');
const bin = fileURLToPath(new URL('../../../../packages/kelpie/bin/kelpie.js', import.meta.url));
const app = fileURLToPath(new URL('../../../../packages/kelpie/test/fixtures/fault-app.mjs', import.meta.url));
const DURATION = Number(process.env.DURATION ?? 10_000);
const child = spawn(process.execPath, [bin, '-b', '127.0.0.1:0', '-w', '2', '--no-control-socket', ...extra, app], {
  env: { ...process.env, ...(mode === 'boot' ? { FAULT_DIE_AFTER_MS: '50' } : {}) },
  stdio: ['ignore', 'ignore', 'pipe'],
});
let log = '';
let url;
child.stderr.setEncoding('utf8').on('data', (c) => {
  log += c;
  url ??= /Listening at: (\S+)/.exec(log)?.[1];
});
const get = (path) =>
  new Promise((resolve) => {
    const req = request(url + path, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.setTimeout(2000, () => req.destroy());
    req.end();
  });
while (!url) await new Promise((r) => setTimeout(r, 50));
const start = Date.now();
const bootsAtStart = (log.match(/Booting worker/g) ?? []).length;
let requests = 0;
if (mode === 'exit') {
  // One client, one request at a time, bounded by time and count.
  while (Date.now() - start < DURATION && requests < 5000) {
    await get('/exit');
    requests++;
  }
} else {
  await new Promise((r) => setTimeout(r, DURATION));
}
const elapsed = (Date.now() - start) / 1000;
const boots = (log.match(/Booting worker/g) ?? []).length - bootsAtStart;
const cpuStat = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
// utime, stime, cutime, cstime (fields 14-17 of /proc/PID/stat: indexes 11-14 after the name)
const ticks = cpuStat.slice(11, 15).map(Number);
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
const total = ticks.reduce((a, b) => a + b, 0) / 100;
console.log(
  `${mode} ${extra.join(' ')}: ${boots} boots in ${elapsed.toFixed(1)} s = ${(boots / elapsed).toFixed(1)}/s; requests ${requests}; arbiter+reaped workers CPU ${total.toFixed(1)} s (${((total / elapsed) * 100).toFixed(0)}% of a core)`,
);
