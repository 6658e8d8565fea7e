import { fileURLToPath } from 'node:url';

// This app sits inside another project's folders; pin the root so the standalone output is
// .next/standalone/server.js and not a copy of the outer tree.
const root = fileURLToPath(new URL('.', import.meta.url));

/** @type {import('next').NextConfig} */
export default {
  output: 'standalone',
  outputFileTracingRoot: root,
  turbopack: { root },
};
