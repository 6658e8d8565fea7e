import { preset } from '@kelpie/tsup-config';

// version is the bin's fast path for a bare `kelpie --version` (bin/kelpie.js).
export default preset({ entry: ['src/index.ts', 'src/version.ts'] });
