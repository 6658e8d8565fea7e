/**
 * A browser for browser tests: Debian's chromium, installed with apt-get when it is missing.
 * A machine that cannot get one fails the test with a message saying how to install it; browser
 * tests are never skipped silently.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/** Where Debian's `chromium` package puts the browser. */
export const DEBIAN_CHROMIUM = '/usr/bin/chromium';
const APT_TIMEOUT_MS = 10 * 60_000;
const HOW_TO =
  'Install it with `apt-get install -y chromium` as root (Debian), or set KELPIE_TEST_CHROMIUM to the path of a Chromium or Chrome executable.';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function aptGet(args: string[]): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(
      'apt-get',
      args,
      {
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        maxBuffer: 64 * 1024 * 1024,
        timeout: APT_TIMEOUT_MS,
      },
      (error, stdout, stderr) => {
        const missing = (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
        resolve({ ok: !error, output: missing ? 'apt-get is not available' : `${stdout}\n${stderr}` });
      },
    );
  });
}

/** apt-get's own explanation: its `E:` lines, else its last line. */
function reason(output: string): string {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const errors = lines.filter((line) => line.startsWith('E:'));
  return (errors.length ? errors.join(' ') : lines.at(-1)) ?? 'no output';
}

async function install(): Promise<string> {
  const fail = (why: string) => new Error(`Chromium is needed for the browser tests and ${why}. ${HOW_TO}`);
  if (process.getuid?.() !== 0) throw fail(`is not at ${DEBIAN_CHROMIUM}; installing it needs root`);
  console.log(
    `Chromium is not at ${DEBIAN_CHROMIUM}: installing Debian's chromium (apt-get update, apt-get install -y chromium)...`,
  );
  const update = await aptGet(['update']);
  if (!update.ok) throw fail(`is not installed, and apt-get update failed: ${reason(update.output)}`);
  const result = await aptGet(['install', '-y', 'chromium']);
  if (!result.ok) throw fail(`is not installed, and apt-get install chromium failed: ${reason(result.output)}`);
  if (!executable(DEBIAN_CHROMIUM)) throw fail(`is still not at ${DEBIAN_CHROMIUM} after apt-get install chromium`);
  console.log(`Installed ${DEBIAN_CHROMIUM}.`);
  return DEBIAN_CHROMIUM;
}

// Test files that call at once share one install: two apt-get runs would fight over the dpkg lock.
let installing: Promise<string> | undefined;

/**
 * The path of a Chromium executable: $KELPIE_TEST_CHROMIUM, else Debian's /usr/bin/chromium,
 * installing it when missing (can take minutes: give the calling hook a long timeout). Rejects with
 * how to install it when that is impossible.
 */
export function ensureChromium(): Promise<string> {
  const chosen = process.env.KELPIE_TEST_CHROMIUM;
  if (chosen) {
    return executable(chosen)
      ? Promise.resolve(chosen)
      : Promise.reject(new Error(`KELPIE_TEST_CHROMIUM=${chosen} is not an executable file. ${HOW_TO}`));
  }
  if (executable(DEBIAN_CHROMIUM)) return Promise.resolve(DEBIAN_CHROMIUM);
  installing ??= install();
  return installing;
}
