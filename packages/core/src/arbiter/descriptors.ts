import { readFileSync } from 'node:fs';
import type { Logger } from '../observability/logger.js';

/**
 * The process's file descriptor limit (RLIMIT_NOFILE): every connection a worker holds is a
 * descriptor, and a worker that runs out cannot accept, open a file or read /proc until
 * connections close. kelpie checks at start that the connections it may hold fit.
 */

/**
 * The soft limit on open files of this process, from `/proc/self/limits` (Linux), else from
 * Node's diagnostic report (macOS, the BSDs); undefined where neither says (Windows) or when it
 * is unlimited.
 */
export function openFilesLimit(): number | undefined {
  try {
    return parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    // No procfs: the report reads getrlimit() (only when there is no /proc: it costs a few ms).
  }
  try {
    const report = process.report?.getReport() as { userLimits?: { open_files?: { soft?: unknown } } } | undefined;
    const soft = report?.userLimits?.open_files?.soft;
    return typeof soft === 'number' && Number.isFinite(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}

/** The soft "Max open files" of a `/proc/<pid>/limits` text; undefined when unlimited or absent. */
export function parseOpenFilesLimit(text: string): number | undefined {
  const match = /^Max open files\s+(\S+)/m.exec(text);
  if (!match || !/^\d+$/.test(match[1] as string)) return undefined;
  return Number(match[1]);
}

/** What a worker process may hold at once, as the start-up check counts it. */
export interface ConnectionBudget {
  /** The worker class's name (`-k`). */
  workerClass: string;
  /** Whether the arbiter accepts and queues connections for the workers (`-k sync`). */
  arbiterAccepts: boolean;
  workerConnections: number;
  threads: number;
  backlog: number;
}

/**
 * The warning for connections that do not fit in `limit` descriptors, or undefined when they do.
 * A worker holds up to --worker-connections per thread (threads only under -k threads); under
 * `-k sync` a worker holds one, and the arbiter queues up to --backlog.
 */
export function openFilesWarning(budget: ConnectionBudget, limit: number): string | undefined {
  const fix = `raise it with \`ulimit -n\` (systemd: \`LimitNOFILE=\`; Docker: \`--ulimit nofile=\`)`;
  if (budget.arbiterAccepts) {
    if (budget.backlog <= limit) return undefined;
    return `--backlog ${budget.backlog}: the arbiter may queue more connections than this process's limit of ${limit} open files allows; lower --backlog or ${fix}`;
  }
  const threads = budget.workerClass === 'threads' ? budget.threads : 1;
  const connections = budget.workerConnections * threads;
  if (connections <= limit) return undefined;
  const what =
    threads > 1
      ? `--worker-connections ${budget.workerConnections} × --threads ${threads} = ${connections}`
      : `--worker-connections ${budget.workerConnections}`;
  return `${what} connections per worker is above this process's limit of ${limit} open files: past it, a worker cannot accept (new connections are closed) until some of its connections close. Lower --worker-connections or ${fix}`;
}

/** At start: warn when the connections a worker may hold do not fit in the descriptor limit. */
export function checkOpenFilesLimit(budget: ConnectionBudget, log: Logger): void {
  const limit = openFilesLimit();
  if (limit === undefined) return;
  const warning = openFilesWarning(budget, limit);
  if (warning) log.warning(warning);
}

/** Whether an error is the process (EMFILE) or the system (ENFILE) running out of descriptors. */
export function isOutOfDescriptors(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}
