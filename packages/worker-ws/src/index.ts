export { WsWorker } from './ws-worker.js';
