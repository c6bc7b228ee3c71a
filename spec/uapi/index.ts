/**
 * The iommufd uAPI as data: one source of truth for commands, structs, enums,
 * test ops and errnos, per kernel profile. Lookups return undefined for what a
 * profile lacks.
 */
import { COMMANDS, TEST_OPS, ioctlIO, ioctlNr } from './commands.ts';
import { ENUMS, CONSTANTS, PROFILE_CONSTANTS } from './enums.ts';
import { inProfile, structLayout, offsetofend, structNames, structDefFor, requireLayout, SCALAR_SIZE } from './layout.ts';

export type { Profile } from './profiles.ts';
export { PROFILES, PROFILE_KERNEL, isProfile } from './profiles.ts';
export type * from './types.ts';
export type { LayoutNode, RecordNode, StructLayout, FieldLayoutRow } from './layout.ts';
export { COMMANDS, TEST_OPS, ENUMS, CONSTANTS, PROFILE_CONSTANTS, ioctlIO, ioctlNr };
export { structLayout, requireLayout, offsetofend, structNames, structDefFor, inProfile, SCALAR_SIZE };
export { STRUCTS } from './structs.ts';
export * from './errno.ts';
export * from './lookup.ts';
export { cValues, namesOnlyElsewhere } from './names.ts';
export { commandTable, commandTableMarkdown, type CommandRow } from './table.ts';
