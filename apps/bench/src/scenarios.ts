import type { PeerName, Scenario } from './types.js';

const NODE_PEERS: PeerName[] = ['cluster-rr', 'cluster-none', 'pm2'];

/**
 * Every scenario the bench knows. To add one: an entry here, and the route in each app under
 * apps/ (handlers.mjs, express.mjs, koa.mjs, hono.mjs, wsgi.py) that its peers serve.
 */
export const scenarios: Scenario[] = [
  {
    name: 'hello',
    title: 'hello world (14 B)',
    app: 'plain',
    path: '/hello',
    method: 'GET',
    connections: 100,
    peers: [...NODE_PEERS, 'gunicorn-sync', 'gunicorn-gthread', 'nginx'],
    workers: [1, 2],
  },
  {
    name: 'json',
    title: 'JSON 1 KB',
    app: 'plain',
    path: '/json',
    method: 'GET',
    connections: 100,
    peers: ['cluster-rr', 'cluster-none', 'gunicorn-gthread'],
    workers: [2],
  },
  {
    name: 'echo',
    title: 'POST echo 10 KB',
    app: 'plain',
    path: '/echo',
    method: 'POST',
    bodyBytes: 10 * 1024,
    connections: 100,
    peers: ['cluster-rr', 'cluster-none', 'gunicorn-gthread'],
    workers: [2],
  },
  {
    name: 'slow',
    title: 'slow I/O (10 ms wait, 256 connections)',
    app: 'plain',
    path: '/slow',
    method: 'GET',
    connections: 256,
    peers: ['cluster-rr', 'cluster-none', 'gunicorn-gthread'],
    workers: [2],
  },
  {
    name: 'cpu',
    title: 'CPU-bound (5 ms of hashing)',
    app: 'plain',
    path: '/cpu',
    method: 'GET',
    connections: 16,
    peers: ['cluster-rr', 'cluster-none', 'gunicorn-gthread'],
    workers: [2],
  },
  {
    name: 'express',
    title: 'Express app, JSON route',
    app: 'express',
    path: '/json',
    method: 'GET',
    connections: 100,
    peers: NODE_PEERS,
    workers: [2],
  },
  {
    name: 'koa',
    title: 'Koa app, JSON route',
    app: 'koa',
    path: '/json',
    method: 'GET',
    connections: 100,
    peers: NODE_PEERS,
    workers: [2],
  },
  {
    name: 'hono',
    title: 'Hono fetch app, JSON route',
    app: 'hono',
    path: '/json',
    method: 'GET',
    connections: 100,
    peers: ['hono-cluster-rr', 'hono-cluster-none'],
    workers: [2],
  },
];

/** The --quick smoke run: one scenario, few sides, one round. */
export const quickScenarios: Scenario[] = [
  { ...(scenarios[0] as Scenario), peers: ['cluster-rr', 'cluster-none'], workers: [2] },
];
