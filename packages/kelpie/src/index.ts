export { type MainIO, main, VERSION } from './cli.js';
