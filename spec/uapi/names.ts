/**
 * Every C name the spec gives a value for in a profile — ioctl request numbers,
 * test ops, enum and flag members, header constants, errnos — as one map, the
 * form the layout probe checks against gcc.
 */
import { COMMANDS, TEST_OPS } from './commands.ts';
import { CONSTANTS, ENUMS, PROFILE_CONSTANTS } from './enums.ts';
import { ERRNO, ERRNO_ALIASES, errnoNumber } from './errno.ts';
import { inProfile } from './layout.ts';
import { PROFILES, type Profile } from './profiles.ts';

export function cValues(profile: Profile): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of COMMANDS) if (inProfile(c.profiles, profile)) out[c.name] = c.request;
  for (const o of TEST_OPS) if (inProfile(o.profiles, profile)) out[o.name] = o.value;
  for (const e of ENUMS) {
    if (!inProfile(e.profiles, profile)) continue;
    for (const m of e.members) if (inProfile(m.profiles, profile)) out[m.name] = m.value;
  }
  for (const [k, v] of Object.entries(CONSTANTS)) out[k] = v;
  for (const [k, v] of Object.entries(PROFILE_CONSTANTS[profile])) out[k] = v;
  for (const k of [...Object.keys(ERRNO), ...Object.keys(ERRNO_ALIASES)]) {
    const n = errnoNumber(k, profile);
    if (n !== undefined) out[k] = n;
  }
  return out;
}

/** Names the spec records for some other profile but not for this one. */
export function namesOnlyElsewhere(profile: Profile): string[] {
  const here = cValues(profile);
  const out = new Set<string>();
  for (const p of PROFILES) if (p !== profile) for (const n of Object.keys(cValues(p))) if (!(n in here)) out.add(n);
  return [...out];
}
