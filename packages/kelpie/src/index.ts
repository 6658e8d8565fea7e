// Config files: `import { defineConfig } from 'kelpie'`; apps: `requestInfo(req)`.
export { defineConfig, type KelpieConfig, type RequestInfo, requestInfo, type ServerHooks } from '@kelpie/core';
export { type MainIO, main, VERSION } from './cli.js';
