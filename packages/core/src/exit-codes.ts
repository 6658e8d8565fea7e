/**
 * Process exit codes of the arbiter and of worker processes. 3 and 4 are Gunicorn's: a worker
 * that exits with either stops the whole server instead of being respawned in a loop.
 */
export const ExitCode = {
  /** Clean stop. */
  OK: 0,
  /** Unexpected failure at run time. */
  ERROR: 1,
  /** Bad command line, setting or config value. */
  USAGE: 2,
  /** The worker could not boot: worker class not found or incompatible, listener unusable. */
  WORKER_BOOT_ERROR: 3,
  /** The app could not be loaded: module not found, syntax error, no usable export, import threw. */
  APP_LOAD_ERROR: 4,
  /**
   * Config-file code did not finish within KELPIE_CONFIG_TIMEOUT: loading the file (a top-level
   * await or a default export that never settles) or its onStarting hook. Not Gunicorn's.
   */
  CONFIG_TIMEOUT: 5,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
