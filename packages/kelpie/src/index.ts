export { type MainIO, VERSION, main } from './cli.js';
