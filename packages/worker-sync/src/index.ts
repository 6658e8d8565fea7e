export { SyncWorker } from './sync-worker.js';
