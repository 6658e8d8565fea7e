#!/usr/bin/env node
// The kelpie command. Kept tiny and outside dist so package managers can link it before a build.
import module from 'node:module';

module.enableCompileCache?.();

try {
  const { main } = await import('../dist/index.js');
  process.exit(await main(process.argv.slice(2)));
} catch (error) {
  const code = error?.code ? `${error.code}: ` : '';
  process.stderr.write(`kelpie: ${code}${error?.message ?? error}\n`);
  process.exit(typeof error?.exitCode === 'number' ? error.exitCode : 1);
}
