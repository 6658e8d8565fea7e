/**
 * The fetch bridge (http/fetch-bridge.ts), as app.ts imports it lazily: only for an app that is a
 * fetch handler (loadFetchBridge). Through this file, which also reaches core's index, for the
 * bundle's sake (see ../optional-modules.ts): the modules the bridge shares with the rest of core
 * stay in core's one shared chunk instead of small files of their own.
 */

export * from '../http/fetch-bridge.js';
export { VERSION as LOADED_WITH_CORE } from '../index.js';
