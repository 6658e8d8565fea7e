import { preset } from '@kelpie/tsup-config';

export default preset();
