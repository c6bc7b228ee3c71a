/** A command of a profile, by name or by request number (the adapter contract names commands either way). */
import { COMMANDS } from './commands.ts';
import { inProfile } from './layout.ts';
import type { Profile } from './profiles.ts';
import type { CommandDef } from './types.ts';

export function resolveCommand(profile: Profile, cmd: string | number): CommandDef | undefined {
  // Every ioctl an adapter serves asks this: one table per profile instead of a scan of the command list.
  let byKey = RESOLVED.get(profile);
  if (byKey === undefined) {
    byKey = new Map();
    for (const c of COMMANDS) {
      if (!inProfile(c.profiles, profile)) continue;
      if (!byKey.has(c.name)) byKey.set(c.name, c);
      if (!byKey.has(c.request)) byKey.set(c.request, c);
    }
    RESOLVED.set(profile, byKey);
  }
  return byKey.get(typeof cmd === 'string' ? cmd : cmd >>> 0);
}

const RESOLVED = new Map<Profile, Map<string | number, CommandDef>>();
