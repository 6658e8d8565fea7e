// Conformance app, factory form: APP_MODULE `factory.mjs:create()` calls create() once per worker.
import { listenerFor } from './common.mjs';

export { shutdown, startup } from './common.mjs';

export function create() {
  return listenerFor('factory');
}
