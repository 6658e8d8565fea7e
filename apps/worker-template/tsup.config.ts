import { defineConfig } from 'tsup';

// ESM and CommonJS builds with type declarations, for Node 20 and later.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  shims: true,
  removeNodeProtocol: false,
});
