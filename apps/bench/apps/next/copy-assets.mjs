// The standalone output leaves out .next/static, which its server.js serves from beside itself;
// Next's docs have it copied in after the build.
import { cpSync, existsSync } from 'node:fs';

if (existsSync('.next/static')) cpSync('.next/static', '.next/standalone/.next/static', { recursive: true });
