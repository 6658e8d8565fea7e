/** Peers that serve only some scenarios say so up front, instead of failing readiness later. */
import type { AppKind, PeerName, Scenario } from '../types.js';

export interface Support {
  apps?: AppKind[];
  paths?: string[];
  /** The apps it can serve over TLS (scenario.tls). Default: none. */
  tls?: AppKind[];
}

export function assertSupports(peer: PeerName, scenario: Scenario, support: Support): void {
  if (support.apps && !support.apps.includes(scenario.app)) {
    throw new Error(`${peer} does not serve the ${scenario.app} app (only ${support.apps.join(', ')})`);
  }
  if (support.paths && !support.paths.includes(scenario.path)) {
    throw new Error(`${peer} does not serve ${scenario.path} (only ${support.paths.join(', ')})`);
  }
  if (scenario.tls && !support.tls?.includes(scenario.app)) {
    throw new Error(`${peer} does not serve the ${scenario.app} app over TLS`);
  }
}
