// Regenerates docs/settings.md from the settings table (run after `build`).
import { writeFileSync } from 'node:fs';
import { settingsMarkdown } from '../dist/internal.js';

const target = new URL('../../../docs/settings.md', import.meta.url);
writeFileSync(target, settingsMarkdown());
console.log(`wrote ${target.pathname}`);
