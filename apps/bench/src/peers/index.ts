/** Every peer by name; adding a peer is one file in this directory and one line here. */
import type { Peer, PeerName } from '../types.js';
import { clusterNone, clusterRr, honoClusterNone, honoClusterRr, wsCluster } from './cluster.js';
import { gunicornGthread, gunicornSync } from './gunicorn.js';
import { kelpie, kelpieBaseline, kelpieExport, kelpieThreads1 } from './kelpie.js';
import { nextStart } from './next-start.js';
import { nginx } from './nginx.js';
import { pm2 } from './pm2.js';
import { watt } from './watt.js';
import { wattNext } from './watt-next.js';

export const peers: Record<PeerName, Peer> = {
  kelpie,
  'kelpie-threads-1': kelpieThreads1,
  'kelpie-baseline': kelpieBaseline,
  'kelpie-export': kelpieExport,
  'cluster-rr': clusterRr,
  'cluster-none': clusterNone,
  pm2,
  'gunicorn-sync': gunicornSync,
  'gunicorn-gthread': gunicornGthread,
  nginx,
  'hono-cluster-rr': honoClusterRr,
  'hono-cluster-none': honoClusterNone,
  'ws-cluster': wsCluster,
  watt,
  'next-start': nextStart,
  'watt-next': wattNext,
};
