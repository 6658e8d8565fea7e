// Config files: `import { defineConfig } from 'kelpie'`.
export { defineConfig, type KelpieConfig, type ServerHooks } from '@kelpie/core';
export { type MainIO, main, VERSION } from './cli.js';
