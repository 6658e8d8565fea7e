import type { Options } from 'tsup';

export declare function preset(options?: { entry?: string[] | Record<string, string> }): Options | Options[];
