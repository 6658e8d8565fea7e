import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helpText, parseCommandLine, resolveConfiguration, splitShellWords } from './command-line.js';
import { settings } from './settings.js';

describe('parseCommandLine', () => {
  it('applies defaults, some from the environment', () => {
    const none = parseCommandLine(['app.js'], {});
    expect(none.settings.bind).toEqual(['127.0.0.1:8000']);
    expect(none.settings.workers).toBe(1);
    expect(none.settings.workerClass).toBe('async');
    expect(none.settings.timeout).toBe(30);
    expect(none.settings.gracefulTimeout).toBe(30);
    expect(none.settings.keepAlive).toBe(2);
    expect(none.settings.workerConnections).toBe(1000);
    expect(none.settings.backlog).toBe(2048);
    expect(none.appModule).toBe('app.js');
    const fromEnv = parseCommandLine(['app.js'], { PORT: '5000', WEB_CONCURRENCY: '3' });
    expect(fromEnv.settings.bind).toEqual(['0.0.0.0:5000']);
    expect(fromEnv.settings.workers).toBe(3);
  });

  it('reads short, long and --flag=value forms, and repeatable flags', () => {
    const { settings: s } = parseCommandLine(
      ['-w4', '--bind=127.0.0.1:1', '-b', 'unix:/tmp/x.sock', '-k', 'sync', 'app'],
      {},
    );
    expect(s.workers).toBe(4);
    expect(s.bind).toEqual(['127.0.0.1:1', 'unix:/tmp/x.sock']);
    expect(s.workerClass).toBe('sync');
  });

  it('accepts --workers auto', () => {
    expect(parseCommandLine(['-w', 'auto', 'a'], {}).settings.workers).toBe(availableParallelism());
  });

  it('layers KELPIE_CMD_ARGS under the command line', () => {
    const cl = parseCommandLine(['-w', '2', 'app.js'], { KELPIE_CMD_ARGS: '-w 5 --timeout 7 --log-level "debug"' });
    expect(cl.settings.workers).toBe(2);
    expect(cl.settings.timeout).toBe(7);
    expect(cl.settings.logLevel).toBe('debug');
    expect(cl.sources).toMatchObject({ workers: 'cli', timeout: 'env' });
  });

  it('names the flag, the value and what is allowed on bad input', () => {
    expect(() => parseCommandLine(['-w', '0', 'a'], {})).toThrow(/--workers: "0"\. Allowed: an integer from 1 to 4096/);
    expect(() => parseCommandLine(['--timeout=-1', 'a'], {})).toThrow(/--timeout: "-1"\. Allowed: a number of seconds/);
    expect(() => parseCommandLine(['--log-level', 'loud', 'a'], {})).toThrow(
      /--log-level: "loud"\. Allowed: debug, info, warning, error, critical/,
    );
    expect(() => parseCommandLine(['--backlog', '70000', 'a'], {})).toThrow(/an integer from 1 to 65535/);
    expect(() => parseCommandLine(['-e', 'NOEQUALS', 'a'], {})).toThrow(/--env: "NOEQUALS"\. Allowed: KEY=VALUE/);
    expect(() => parseCommandLine(['a', 'b'], {})).toThrow(/Expected one APP_MODULE, got 2/);
    expect(() => parseCommandLine(['--nope'], {})).toThrow(/Unknown option '--nope'$/);
    expect(() => parseCommandLine(['-i', '4', 'a'], {})).toThrow(/Unknown option '-i' \(kelpie: -w N or --workers N\)/);
    expect(() => parseCommandLine(['a'], { WEB_CONCURRENCY: 'lots' })).toThrow(/WEB_CONCURRENCY: "lots"/);
    expect(() => parseCommandLine(['a'], { FORWARDED_ALLOW_IPS: '10.0.0.1,proxy.local' })).toThrow(
      /Invalid value for FORWARDED_ALLOW_IPS: "proxy\.local"\. Allowed: comma-separated IP addresses/,
    );
    expect(parseCommandLine(['a'], { FORWARDED_ALLOW_IPS: ' 10.0.0.0/8 , ::1' }).settings.forwardedAllowIps).toEqual([
      '10.0.0.0/8',
      '::1',
    ]);
  });

  it('takes a negative number after a flag as its value, so the setting names what it allows', () => {
    expect(() => parseCommandLine(['-w', '-1', 'a'], {})).toThrow(
      /Invalid value for --workers: "-1"\. Allowed: an integer from 1 to 4096/,
    );
    expect(() => parseCommandLine(['--timeout', '-5', 'a'], {})).toThrow(
      /Invalid value for --timeout: "-5"\. Allowed: a number of seconds from 0 to 2147483/,
    );
    expect(() => parseCommandLine(['-t', '-0.5', 'a'], {})).toThrow(/Invalid value for --timeout: "-0\.5"/);
    expect(() => parseCommandLine(['a'], { KELPIE_CMD_ARGS: '--backlog -3' })).toThrow(
      /Invalid value for --backlog \(from KELPIE_CMD_ARGS\): "-3"\. Allowed: an integer from 1 to 65535/,
    );
    // A switch is not followed by its value, and words after -- are left alone.
    expect(() => parseCommandLine(['--preload', '-1', 'a'], {})).toThrow(/Unknown option '-1'/);
  });

  it('shows the range of numeric settings in --help', () => {
    expect(helpText()).toMatch(/--graceful-timeout SECONDS +.*\[30; 0 to 2147482\]/);
    expect(helpText()).toMatch(/--backlog INT +.*\[2048; 1 to 65535\]/);
    expect(helpText()).toMatch(/-m, --umask INT +.*\[inherited; 0 to 0777 \(octal\)\]/);
  });

  it('lists every setting in --help', () => {
    const help = helpText();
    for (const def of Object.values(settings)) for (const flag of def.flags) expect(help).toContain(flag);
  });
});

describe('splitShellWords', () => {
  it('splits like a shell, without expansion', () => {
    expect(splitShellWords(`-w 2  --name 'my app' -e "A=b c" x\\ y $HOME`)).toEqual([
      '-w',
      '2',
      '--name',
      'my app',
      '-e',
      'A=b c',
      'x y',
      '$HOME',
    ]);
    expect(splitShellWords(`''`)).toEqual(['']);
    expect(() => splitShellWords(`-n "open`)).toThrow(/unclosed " quote/);
  });
});

describe('settings that go together', () => {
  it('are checked after the config file is merged: TLS there, HTTP/2 on the command line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kelpie-combo-'));
    try {
      writeFileSync(join(dir, 'kelpie.config.mjs'), "export default { certfile: 'c.pem', keyfile: 'k.pem' };\n");
      const resolved = await resolveConfiguration(['--http-protocols', 'h2,h1', 'app.js'], {}, dir);
      expect(resolved.settings.httpProtocols).toEqual(['h2', 'h1']);
      const empty = join(dir, 'empty');
      mkdirSync(empty);
      await expect(resolveConfiguration(['--http-protocols', 'h2,h1', 'app.js'], {}, empty)).rejects.toThrow(
        /HTTP\/2 is served over TLS only/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
