/** Lookups over the uAPI data, per profile (undefined for what a profile lacks). */
import { COMMANDS, TEST_OPS } from './commands.ts';
import { ENUMS } from './enums.ts';
import { inProfile, offsetofend, structLayout } from './layout.ts';
import type { Profile } from './profiles.ts';
import type { CommandDef, EnumDef, EnumMember, TestOpDef } from './types.ts';

/** Every command the profile has (IOMMU_TEST_CMD included; see CommandDef.testOnly). */
export function commandsFor(profile: Profile): CommandDef[] {
  return COMMANDS.filter((c) => inProfile(c.profiles, profile));
}

export function commandByName(profile: Profile, name: string): CommandDef | undefined {
  return COMMANDS.find((c) => c.name === name && inProfile(c.profiles, profile));
}

/** By _IOC_NR and the file it is issued on (VFIO nrs overlap nothing of iommufd's). */
export function commandByNr(profile: Profile, nr: number, fd?: CommandDef['fd']): CommandDef | undefined {
  return COMMANDS.find((c) => c.nr === nr && inProfile(c.profiles, profile) && (fd === undefined || c.fd === fd));
}

/** By the full ioctl request number (type, nr, and no size/direction bits). */
export function commandByRequest(profile: Profile, request: number, fd?: CommandDef['fd']): CommandDef | undefined {
  return COMMANDS.find((c) => c.request === request >>> 0 && inProfile(c.profiles, profile) && (fd === undefined || c.fd === fd));
}

/** Minimum argument size: offsetofend(struct, minLast); undefined for int/none commands. */
export function commandMinSize(profile: Profile, command: CommandDef): number | undefined {
  if (!command.struct || !command.minLast) return undefined;
  return offsetofend(profile, command.struct, command.minLast);
}

/** sizeof the command's struct in the profile. */
export function commandStructSize(profile: Profile, command: CommandDef): number | undefined {
  return command.struct ? structLayout(profile, command.struct)?.size : undefined;
}

export function testOpsFor(profile: Profile): TestOpDef[] {
  return TEST_OPS.filter((o) => inProfile(o.profiles, profile));
}

export function testOpByName(profile: Profile, name: string): TestOpDef | undefined {
  return TEST_OPS.find((o) => o.name === name && inProfile(o.profiles, profile));
}

export function testOpByValue(profile: Profile, value: number): TestOpDef | undefined {
  return TEST_OPS.find((o) => o.value === value && inProfile(o.profiles, profile));
}

/** An enum with only the members the profile has. */
export function enumDef(profile: Profile, name: string): EnumDef | undefined {
  const e = ENUMS.find((x) => x.name === name && inProfile(x.profiles, profile));
  if (!e) return undefined;
  return { ...e, members: e.members.filter((m) => inProfile(m.profiles, profile)) };
}

/** The value of a named enum member in the profile, searching every enum. */
export function enumValue(profile: Profile, member: string): number | undefined {
  for (const e of ENUMS) {
    if (!inProfile(e.profiles, profile)) continue;
    const m = e.members.find((x) => x.name === member && inProfile(x.profiles, profile));
    if (m) return m.value;
  }
  return undefined;
}

/** The union of a flags enum's bits in the profile (uAPI bits only unless testOnly members are wanted). */
export function flagMask(profile: Profile, enumName: string, opts: { includeTest?: boolean } = {}): number {
  const e = enumDef(profile, enumName);
  if (!e) return 0;
  return e.members.filter((m: EnumMember) => opts.includeTest || !m.testOnly).reduce((acc, m) => (acc | m.value) >>> 0, 0);
}
