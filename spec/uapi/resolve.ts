/** A command of a profile, by name or by request number (the adapter contract names commands either way). */
import { COMMANDS } from './commands.ts';
import { inProfile } from './layout.ts';
import type { Profile } from './profiles.ts';
import type { CommandDef } from './types.ts';

export function resolveCommand(profile: Profile, cmd: string | number): CommandDef | undefined {
  return COMMANDS.find((c) => inProfile(c.profiles, profile) && (typeof cmd === 'string' ? c.name === cmd : c.request === cmd >>> 0));
}
