import { ExitCode } from './exit-codes.js';

/**
 * Every error kelpie raises on purpose carries one of these codes. docs/errors.md lists them
 * all; a test fails when one is missing there.
 */
export const ErrorCodes = {
  KELPIE_ERR_USAGE: 'Bad command-line usage: unknown flag, missing value or APP_MODULE',
  KELPIE_ERR_INVALID_SETTING: 'A setting has a value outside what it allows',
  KELPIE_ERR_BIND: 'A listening address could not be parsed or bound',
  KELPIE_ERR_ADDRESS_IN_USE: 'A listening address stayed in use after every retry',
  KELPIE_ERR_WORKER_NOT_FOUND: 'No package or file provides the requested worker class',
  KELPIE_ERR_WORKER_INVALID: 'The worker module does not export a class that meets the worker contract',
  KELPIE_ERR_WORKER_INCOMPATIBLE: "The worker class's supported @kelpie/core range excludes this core",
  KELPIE_ERR_APP_NOT_FOUND: 'APP_MODULE names a file or package that cannot be found',
  KELPIE_ERR_APP_IMPORT: 'Importing the app module threw (syntax error, exception at import)',
  KELPIE_ERR_APP_EXPORT: 'The app module has no export of an accepted app shape',
  KELPIE_ERR_APP_FACTORY: 'The app factory named in APP_MODULE threw or returned no usable app',
  KELPIE_ERR_APP_HOOK: "The app's startup hook threw",
  KELPIE_ERR_APP_INTERFACE:
    'A request failed in a way that says the app was called with the wrong interface (see --interface)',
  KELPIE_ERR_ADAPTER_NOT_FOUND: 'No package or file provides the adapter --adapter names',
  KELPIE_ERR_ADAPTER_INVALID: 'The adapter module is not an adapter, supports another core, or does not match the app',
  KELPIE_ERR_PLATFORM: 'This Node.js build lacks something kelpie needs',
  KELPIE_ERR_CONFIG: 'The config file cannot be found or loaded, or names an unknown setting or hook',
  KELPIE_ERR_PIDFILE: 'The pidfile names a running process, is a link or not a regular file, or cannot be written',
  KELPIE_ERR_TLS: 'A TLS file cannot be read, is not valid PEM, or the key does not match the certificate',
  KELPIE_ERR_CONFIG_TIMEOUT: 'Loading the config file did not finish within KELPIE_CONFIG_TIMEOUT',
  KELPIE_ERR_HOOK_TIMEOUT: 'The onStarting hook did not finish within KELPIE_CONFIG_TIMEOUT',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

const EXIT_CODES: Partial<Record<ErrorCode, ExitCode>> = {
  KELPIE_ERR_USAGE: ExitCode.USAGE,
  KELPIE_ERR_INVALID_SETTING: ExitCode.USAGE,
  KELPIE_ERR_CONFIG: ExitCode.USAGE,
  KELPIE_ERR_TLS: ExitCode.USAGE,
  KELPIE_ERR_CONFIG_TIMEOUT: ExitCode.CONFIG_TIMEOUT,
  KELPIE_ERR_HOOK_TIMEOUT: ExitCode.CONFIG_TIMEOUT,
  KELPIE_ERR_WORKER_NOT_FOUND: ExitCode.WORKER_BOOT_ERROR,
  KELPIE_ERR_WORKER_INVALID: ExitCode.WORKER_BOOT_ERROR,
  KELPIE_ERR_WORKER_INCOMPATIBLE: ExitCode.WORKER_BOOT_ERROR,
  KELPIE_ERR_APP_NOT_FOUND: ExitCode.APP_LOAD_ERROR,
  KELPIE_ERR_APP_IMPORT: ExitCode.APP_LOAD_ERROR,
  KELPIE_ERR_APP_EXPORT: ExitCode.APP_LOAD_ERROR,
  KELPIE_ERR_APP_FACTORY: ExitCode.APP_LOAD_ERROR,
  KELPIE_ERR_APP_HOOK: ExitCode.APP_LOAD_ERROR,
  KELPIE_ERR_ADAPTER_NOT_FOUND: ExitCode.APP_LOAD_ERROR,
  KELPIE_ERR_ADAPTER_INVALID: ExitCode.APP_LOAD_ERROR,
};

export class KelpieError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KelpieError';
    this.code = code;
  }

  /** The process exit status this error stands for when it ends a kelpie process. */
  get exitCode(): ExitCode {
    return EXIT_CODES[this.code] ?? ExitCode.ERROR;
  }
}

/**
 * Duck-typed check: a worker package built as CommonJS holds its own copy of this class, so
 * `instanceof` is not enough across the ESM/CJS boundary.
 */
export function isKelpieError(value: unknown): value is KelpieError {
  return (
    value instanceof Error &&
    typeof (value as { code?: unknown }).code === 'string' &&
    (value as unknown as { code: string }).code in ErrorCodes
  );
}

/** The exit status for any error: a KelpieError's own, else ERROR. */
export function exitCodeOf(error: unknown): ExitCode {
  if (!isKelpieError(error)) return ExitCode.ERROR;
  return EXIT_CODES[error.code] ?? ExitCode.ERROR;
}
