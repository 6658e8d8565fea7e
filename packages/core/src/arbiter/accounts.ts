import { readFileSync } from 'node:fs';
import { KelpieError } from '../errors.js';

/**
 * --user and --group: names resolved through /etc/passwd and /etc/group (Node has no getpwnam),
 * numbers taken as ids. The arbiter stays the user it was started as (it binds and may rebind);
 * workers are spawned with the resolved uid and gid.
 */

function entries(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split(':'));
  } catch {
    return [];
  }
}

export interface Identity {
  uid: number;
  gid: number;
}

/** The uid and gid workers run as, or undefined when neither --user nor --group is set. */
export function resolveIdentity(user: string | number | null, group: string | number | null): Identity | undefined {
  if (user === null && group === null) return undefined;
  let uid = process.getuid?.() ?? 0;
  let gid = process.getgid?.() ?? 0;
  if (user !== null) {
    const row =
      typeof user === 'number'
        ? entries('/etc/passwd').find((r) => Number(r[2]) === user)
        : entries('/etc/passwd').find((r) => r[0] === user);
    if (!row && typeof user !== 'number') {
      throw new KelpieError(
        'KELPIE_ERR_INVALID_SETTING',
        `Invalid value for --user: "${user}". Allowed: a user of this system (no such user), or a numeric uid.`,
      );
    }
    uid = typeof user === 'number' ? user : Number(row?.[2]);
    // The user's primary group, unless --group says otherwise.
    if (row && group === null) gid = Number(row[3]);
  }
  if (group !== null) {
    if (typeof group === 'number') gid = group;
    else {
      const row = entries('/etc/group').find((r) => r[0] === group);
      if (!row) {
        throw new KelpieError(
          'KELPIE_ERR_INVALID_SETTING',
          `Invalid value for --group: "${group}". Allowed: a group of this system (no such group), or a numeric gid.`,
        );
      }
      gid = Number(row[2]);
    }
  }
  const current = process.getuid?.();
  if (current !== 0 && (uid !== current || gid !== process.getgid?.())) {
    throw new KelpieError(
      'KELPIE_ERR_INVALID_SETTING',
      `--user/--group ask for uid ${uid} gid ${gid}, but kelpie runs as uid ${current}: only root can start workers as another user.`,
    );
  }
  return { uid, gid };
}
