export { ThreadsWorker } from './threads-worker.js';
