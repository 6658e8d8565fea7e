import { fileURLToPath } from 'node:url';
import { ensureChromium, startKelpie, stopAll } from '@kelpie/testkit';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { get } from './helpers.js';

// The chat example (apps/examples/chat.js) under -k ws, driven by a real browser: Debian's
// chromium through playwright-core. A first run on a fresh machine installs chromium with apt-get.

const chat = fileURLToPath(new URL('../../../apps/examples/chat.js', import.meta.url));
const TEST_TIMEOUT_MS = 60_000;
const WAIT_MS = 20_000; // for each thing to show up in a page

let browser: Browser | undefined;
let context: BrowserContext | undefined;

beforeAll(async () => {
  const executablePath = await ensureChromium();
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'], headless: true, timeout: 60_000 });
}, 15 * 60_000); // apt-get install chromium can take minutes

afterEach(async () => {
  const closing = context?.close();
  context = undefined;
  await Promise.allSettled([closing, stopAll()]);
});

afterAll(async () => {
  await browser?.close();
});

/** Open the chat page; resolves with the id the server gave this page once it is connected. */
async function join(page: Page, url: string): Promise<string> {
  await page.goto(url);
  const status = page.locator('#status[data-id]');
  await status.waitFor({ timeout: WAIT_MS });
  return (await status.getAttribute('data-id')) as string;
}

/** The HTTP status a WebSocket upgrade gets (101 when accepted). */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    ws.once('error', reject);
  });
}

describe('the chat example in a browser (-k ws)', () => {
  it(
    'delivers a message to both pages, the sender included',
    async () => {
      const kp = await startKelpie(['-k', 'ws', '-w', '1', chat]);
      context = await browser!.newContext();
      const errors: Error[] = [];
      const alice = await context.newPage();
      const bob = await context.newPage();
      for (const page of [alice, bob]) page.on('pageerror', (error) => errors.push(error));

      const aliceId = await join(alice, kp.url);
      const bobId = await join(bob, kp.url);
      expect(bobId).not.toBe(aliceId);
      await alice.locator('#messages li.system', { hasText: `${bobId} joined` }).waitFor({ timeout: WAIT_MS });

      const hello = `hello from ${aliceId}`;
      await alice.locator('#text').fill(`  ${hello}  `);
      await alice.locator('#send').click();
      for (const page of [alice, bob]) {
        await page.locator('#messages li', { hasText: hello }).waitFor({ timeout: WAIT_MS });
      }
      expect(await alice.locator('#messages li.me').last().textContent()).toBe(`${aliceId}: ${hello}`);
      expect(await bob.locator('#messages li.them').last().textContent()).toBe(`${aliceId}: ${hello}`);
      expect(await alice.locator('#text').inputValue()).toBe('');

      // Bob answers with the Enter key.
      const reply = `hi ${aliceId}, ${bobId} here`;
      await bob.locator('#text').fill(reply);
      await bob.locator('#text').press('Enter');
      for (const page of [alice, bob]) {
        await page.locator('#messages li', { hasText: reply }).waitFor({ timeout: WAIT_MS });
      }
      expect(await alice.locator('#messages li.them').last().textContent()).toBe(`${bobId}: ${reply}`);

      await bob.close();
      await alice.locator('#messages li.system', { hasText: `${bobId} left` }).waitFor({ timeout: WAIT_MS });
      expect(errors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'serves the page at / and WebSocket upgrades at /chat only, from the same origin',
    async () => {
      const kp = await startKelpie(['-k', 'ws', '-w', '1', chat]);
      const page = await get(`${kp.url}/`);
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect((await get(`${kp.url}/elsewhere`)).status).toBe(404);

      const ws = kp.url.replace(/^http/, 'ws');
      const host = new URL(kp.url).host;
      expect(await upgradeStatus(`${ws}/chat`, { origin: `http://${host}` })).toBe(101);
      expect(await upgradeStatus(`${ws}/elsewhere`)).toBe(404);
      expect(await upgradeStatus(`${ws}/chat`, { origin: 'http://elsewhere.example' })).toBe(403);
    },
    TEST_TIMEOUT_MS,
  );
});
