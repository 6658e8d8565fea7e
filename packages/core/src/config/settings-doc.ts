import { rangeOf, rangeText, type SettingDef, type SettingName, settings } from './settings.js';

/** docs/settings.md, generated from the settings table so the reference can never drift from the code. */
export function settingsMarkdown(): string {
  const lines = [
    '# Settings',
    '',
    '<!-- Generated from packages/core/src/config/settings.ts by `pnpm --filter @kelpie/core docs`; do not edit by hand. -->',
    '',
    'Every setting can be given on the command line or in `KELPIE_CMD_ARGS` (parsed like a shell command line).',
    'Precedence, lowest first: defaults (some taken from `PORT` and `WEB_CONCURRENCY`), `KELPIE_CMD_ARGS`, the',
    'command line. A bad value stops kelpie with exit status 2 and a message naming the flag, the value and what is',
    'allowed.',
    '',
    'Every numeric setting has a range, listed with it. Settings in seconds become Node.js timers, which hold at most',
    '2^31-1 ms: their maximum is 2147483 s (about 24.8 days), one second less where kelpie or Node.js adds a second to',
    'the value. Why each other ceiling is where it is: docs/security.md.',
    '',
  ];
  let section = '';
  for (const [name, def] of Object.entries(settings) as [SettingName, SettingDef<unknown>][]) {
    if (def.section !== section) {
      section = def.section;
      lines.push(`## ${section}`, '');
    }
    lines.push(`### \`${name}\``, '');
    lines.push(`- Flags: ${def.flags.map((f) => `\`${f}${def.meta ? ` ${def.meta}` : ''}\``).join(', ')}`);
    lines.push(`- Default: \`${def.defaultText}\``);
    const range = rangeOf(def);
    if (range) lines.push(`- Range: ${rangeText(range)}${def.meta === 'SECONDS' ? ' seconds' : ''}`);
    if (def.multiple) lines.push('- Repeatable: each use adds a value.');
    if (def.onHup === 'restart') lines.push('- HUP: keeps the old value; a new one takes effect on restart (or USR2).');
    lines.push('', def.help, '');
    if (def.doc) lines.push(def.doc, '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
