// Conformance app, Koa-style shape: an object whose callback() returns the request listener.
import { listenerFor } from './common.mjs';

export { shutdown, startup } from './common.mjs';

export default {
  callback() {
    return listenerFor('callback');
  },
};
