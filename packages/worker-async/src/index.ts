export { AsyncWorker } from './async-worker.js';
