import pkg from '../package.json' with { type: 'json' };

/** The version of @kelpie/core, checked against worker classes' supported ranges. */
export const VERSION: string = pkg.version;
