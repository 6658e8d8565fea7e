#!/usr/bin/env node
// The kelpie command. Kept tiny and outside dist so package managers can link it before a build.
import module from 'node:module';

module.enableCompileCache?.();

const argv = process.argv.slice(2);
try {
  // A bare --version needs nothing of the server: print it without loading the rest.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v') && !process.env.KELPIE_CMD_ARGS?.trim()) {
    const { versionLine } = await import('../dist/version.js');
    process.stdout.write(versionLine());
    process.exit(0);
  }
  const { main } = await import('../dist/index.js');
  process.exit(await main(argv));
} catch (error) {
  const code = error?.code ? `${error.code}: ` : '';
  process.stderr.write(`kelpie: ${code}${error?.message ?? error}\n`);
  process.exit(typeof error?.exitCode === 'number' ? error.exitCode : 1);
}
