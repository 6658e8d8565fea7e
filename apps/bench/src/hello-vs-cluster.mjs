// Hello-world throughput: kelpie -w N against node:cluster with N workers (RR and none), in
// interleaved rounds so drift on a shared machine hits every side. Loopback only; every wrk run
// is bounded by its duration. Usage: node src/hello-vs-cluster.mjs [rounds] [seconds] [workers]
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' });
} catch (error) {
  if (error.code === 'ENOENT') {
    console.error('wrk is not installed: apt-get install wrk (Debian) and run again.');
    process.exit(1);
  }
}
const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 10);
const workers = Number(process.argv[4] ?? 2);
const connections = 100;
const threads = 2;
const kelpieBin = join(dirname(createRequire(import.meta.url).resolve('kelpie/package.json')), 'bin', 'kelpie.js');
const hello = join(here, '..', '..', 'examples', 'hello.js');

function waitFor(child, pattern) {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk) => {
      out += chunk;
      if (pattern.test(out)) resolve(out);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code} before ${pattern}: ${out}`)));
  });
}

const sides = {
  kelpie: async (port) => {
    const child = spawn(process.execPath, [kelpieBin, '-w', String(workers), '-b', `127.0.0.1:${port}`, hello], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await waitFor(child, /Ready: \d+ workers? serving/);
    return child;
  },
  'cluster-rr': async (port) => cluster(port, 'rr'),
  'cluster-none': async (port) => cluster(port, 'none'),
};

async function cluster(port, policy) {
  const child = spawn(process.execPath, [join(here, '..', 'peers', 'cluster-hello.cjs')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: String(port), WORKERS: String(workers), NODE_CLUSTER_SCHED_POLICY: policy },
  });
  await waitFor(child, /ready/);
  return child;
}

function wrk(port) {
  const out = execFileSync(
    'wrk',
    ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, `http://127.0.0.1:${port}/`],
    {
      encoding: 'utf8',
    },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out)?.[0] ?? 'none';
  return { rps, errors };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

const results = Object.fromEntries(Object.keys(sides).map((name) => [name, []]));
let port = 18_000 + Math.floor(Math.random() * 1000);
console.log(
  `hello world, ${workers} workers; wrk -t${threads} -c${connections} -d${seconds}s, ${rounds} interleaved rounds, 1 s warm-up each`,
);
for (let round = 1; round <= rounds; round++) {
  for (const [name, start] of Object.entries(sides)) {
    port++;
    const child = await start(port);
    try {
      execFileSync('wrk', ['-t1', '-c10', '-d1s', `http://127.0.0.1:${port}/`]);
      const { rps, errors } = wrk(port);
      results[name].push(rps);
      console.log(`round ${round} ${name.padEnd(13)} ${rps.toFixed(0).padStart(8)} req/s  errors: ${errors}`);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
}
const k = median(results.kelpie);
console.log('\nmedian req/s and kelpie/peer ratio (per-round min-max):');
for (const [name, values] of Object.entries(results)) {
  const ratios = values.map((v, i) => results.kelpie[i] / v);
  const range = `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
  console.log(
    `${name.padEnd(13)} ${median(values).toFixed(0).padStart(8)}  ${name === 'kelpie' ? '' : `${(k / median(values)).toFixed(2)}x (${range})`}`,
  );
}
