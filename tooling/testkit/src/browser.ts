/**
 * A browser for browser tests: Debian's chromium, installed with apt-get when it is missing.
 * A machine that cannot get one fails the test with a message saying how to install it; browser
 * tests are never skipped silently.
 */
import { accessSync, constants } from 'node:fs';
import { ensureCommand, findCommand } from './apt.js';

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

/**
 * The path of a Chromium executable: $KELPIE_TEST_CHROMIUM, else Debian's chromium, installing
 * it when missing (can take minutes: give the calling hook a long timeout). Rejects with how to
 * install it when that is impossible.
 */
export async function ensureChromium(): Promise<string> {
  const chosen = process.env.KELPIE_TEST_CHROMIUM;
  if (chosen) {
    if (executable(chosen)) return chosen;
    throw new Error(`KELPIE_TEST_CHROMIUM=${chosen} is not an executable file. ${HOW_TO}`);
  }
  const failure = await ensureCommand('chromium', 'chromium');
  const found = findCommand('chromium');
  if (failure || !found)
    throw new Error(`Chromium is needed for the browser tests: ${failure ?? 'not found'}. ${HOW_TO}`);
  return found;
}
