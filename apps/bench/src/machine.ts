import { arch, availableParallelism, cpus, release, totalmem } from 'node:os';
import type { BenchReport } from './results.js';

/** The machine a run was measured on, as every results file records it. */
export function describeMachine(): BenchReport['machine'] {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model.trim() ?? arch(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: release(),
  };
}

/** A results file's time stamp: `2026-11-21T14-53` (UTC, no colon, safe in file names). */
export const timeStamp = (date = new Date()): string => date.toISOString().slice(0, 16).replace(':', '-');
