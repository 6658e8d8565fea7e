export { YournameWorker } from './yourname-worker.js';
