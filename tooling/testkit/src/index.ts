// The repo's own test helpers: kelpie processes and HTTP from the published worker testkit,
// plus the Chromium finder for the browser tests.
export * from '@kelpie/worker-testkit';
export { ensureChromium } from './browser.js';
export { type Certificates, makeCertificates, tlsArgs } from './certificates.js';
