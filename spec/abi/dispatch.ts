/**
 * The ABI rules an implementation's ioctl dispatcher applies before a handler
 * runs, as pure functions returning the kernel's errno:
 *  - iommufd (drivers/iommu/iommufd/main.c: iommufd_fops_ioctl): table lookup,
 *    the u32 size read, min size, copy_struct_from_user;
 *  - VFIO compat on an iommufd (vfio_compat.c: iommufd_vfio_ioctl) and the VFIO
 *    device cdev (drivers/vfio/vfio_main.c: vfio_device_fops_unl_ioctl,
 *    device_cdev.c): argsz/minsz;
 *  - the response copy-back (iommufd_ucmd_respond and the VFIO handlers' copy_to_user).
 *
 * User memory is modelled by `UserArg.readable`: the bytes that can be read
 * starting at the argument pointer (anything beyond faults). null = nothing is
 * readable (NULL or a bad pointer).
 */
import type { Profile } from '../uapi/profiles.ts';
import { COMMANDS, ioctlNr } from '../uapi/commands.ts';
import { IOMMUFD_CMD_BASE } from '../uapi/constants.ts';
import { inProfile, offsetofend, requireLayout } from '../uapi/layout.ts';
import type { CommandDef, FdKind, VfioExtension } from '../uapi/types.ts';
import { ERRNO } from '../uapi/errno.ts';
import { decodeWithLayout, encodeWithLayout, type StructValue } from './codec.ts';
import { getU32 } from './le.ts';

export interface UserArg {
  /** The ioctl's `unsigned long arg` (the pointer, or the integer for int commands). */
  readonly value: bigint;
  /** Bytes readable at `value` as a user pointer; null when none are. */
  readonly readable: Uint8Array | null;
}

/** A pointer argument whose memory holds exactly these bytes (the address is nominal). */
export function argBytes(bytes: Uint8Array, address = 0x10000n): UserArg {
  return { value: address, readable: bytes };
}

/** A plain integer argument (VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU). */
export function argInt(value: bigint): UserArg {
  return { value, readable: null };
}

/** A NULL argument pointer. */
export function argNull(): UserArg {
  return { value: 0n, readable: null };
}

/** A non-NULL pointer to unreadable memory. */
export function argFault(address = 0xdead0000n): UserArg {
  return { value: address, readable: null };
}

/** Where in the dispatch sequence an error arose (for diagnostics and clause ids). */
export type DispatchStage =
  | 'unknown-cmd' // no handler: ENOTTY (ENOIOCTLCMD)
  | 'read-size' // get_user(size/argsz) faulted
  | 'min-size' // size/argsz below the minimum
  | 'tail' // non-zero byte beyond the kernel struct
  | 'copy' // copying the struct faulted
  | 'not-bound'; // VFIO device fd: any ioctl but BIND before the device is bound

/** A struct argument the handler can run with. */
export interface StructDecode {
  readonly ok: true;
  readonly command: CommandDef;
  readonly kind: 'extensible' | 'vfio-argsz';
  /** The struct the handler sees (zero-extended to sizeof). */
  readonly value: StructValue;
  /** The kernel's copy of the struct: sizeof bytes. */
  readonly bytes: Uint8Array;
  /** The caller's size (iommufd `size`) or `argsz` (VFIO). */
  readonly size: number;
}

export type IoctlDecode =
  | { readonly ok: false; readonly errno: number; readonly stage: DispatchStage; readonly command?: CommandDef }
  | StructDecode
  | { readonly ok: true; readonly command: CommandDef; readonly kind: 'int'; readonly arg: bigint }
  | { readonly ok: true; readonly command: CommandDef; readonly kind: 'none' };

export interface DispatchOptions {
  /** The kernel has CONFIG_IOMMUFD_TEST: IOMMU_TEST_CMD exists and the table reaches 0xa0. Default true. */
  readonly testCmd?: boolean;
  /** VFIO device fd: the device is bound (df->access_granted). Default true. */
  readonly deviceBound?: boolean;
}

const fail = (errno: number, stage: DispatchStage, command?: CommandDef): IoctlDecode =>
  command ? { ok: false, errno, stage, command } : { ok: false, errno, stage };


/** ARRAY_SIZE(iommufd_ioctl_ops): up to the last command of the profile (IOMMU_TEST_CMD when configured). */
export function iommufdTableSize(profile: Profile, testCmd: boolean): number {
  const key = `${profile}/${testCmd}`;
  let size = TABLE_SIZES.get(key);
  if (size === undefined) {
    size = computeTableSize(profile, testCmd);
    TABLE_SIZES.set(key, size);
  }
  return size;
}

/** iommufdTableSize per profile and test-command setting, computed once (every iommufd ioctl asks). */
const TABLE_SIZES = new Map<string, number>();

function computeTableSize(profile: Profile, testCmd: boolean): number {
  let last = IOMMUFD_CMD_BASE - 1;
  for (const c of COMMANDS) {
    if (c.fd !== 'iommufd' || c.arg !== 'extensible' || !inProfile(c.profiles, profile)) continue;
    if (c.testOnly && !testCmd) continue;
    last = Math.max(last, c.nr);
  }
  return last - IOMMUFD_CMD_BASE + 1;
}

function readU32(bytes: Uint8Array, off: number): number {
  return getU32(bytes, off);
}

/**
 * copy_struct_from_user(dst, ksize, src, usize) (include/linux/uaccess.h):
 * a tail beyond ksize must be zero (E2BIG; EFAULT if it cannot be read), then
 * min(ksize, usize) bytes are copied (EFAULT) and the rest zero-filled.
 * The tail is scanned in order: a non-zero readable byte gives E2BIG even when
 * later bytes would fault (check_zeroed_user stops at the first non-zero word).
 */
export function copyStructFromUser(ksize: number, readable: Uint8Array | null, usize: number): { errno: number; stage: DispatchStage } | { bytes: Uint8Array } {
  const avail = readable ?? new Uint8Array(0);
  if (usize > ksize) {
    for (let i = ksize; i < usize; i++) {
      if (i >= avail.length) return { errno: ERRNO.EFAULT, stage: 'copy' };
      if (avail[i] !== 0) return { errno: ERRNO.E2BIG, stage: 'tail' };
    }
  }
  const n = Math.min(ksize, usize);
  if (avail.length < n) return { errno: ERRNO.EFAULT, stage: 'copy' };
  const bytes = new Uint8Array(ksize);
  bytes.set(avail.subarray(0, n));
  return { bytes };
}

const COMMANDS_OF = new Map<string, readonly CommandDef[]>();

/** COMMANDS of one file kind in one profile, in table order (filtered once: every ioctl looks its command up). */
function commandsOf(profile: Profile, fd: FdKind): readonly CommandDef[] {
  const key = `${profile}/${fd}`;
  let list = COMMANDS_OF.get(key);
  if (list === undefined) {
    list = COMMANDS.filter((c) => c.fd === fd && inProfile(c.profiles, profile));
    COMMANDS_OF.set(key, list);
  }
  return list;
}

function findCommand(profile: Profile, fd: FdKind, pred: (c: CommandDef) => boolean): CommandDef | undefined {
  return commandsOf(profile, fd).find(pred);
}

/** iommufd_fops_ioctl: everything before op->execute(). */
function decodeIommufd(profile: Profile, cmd: number, arg: UserArg, testCmd: boolean): IoctlDecode {
  const nr = ioctlNr(cmd);
  if (nr < IOMMUFD_CMD_BASE || nr - IOMMUFD_CMD_BASE >= iommufdTableSize(profile, testCmd)) return decodeVfioCompat(profile, cmd, arg);
  // get_user(ucmd.user_size, (u32 __user *)arg)
  if (!arg.readable || arg.readable.length < 4) return fail(ERRNO.EFAULT, 'read-size');
  const size = readU32(arg.readable, 0);
  const command = findCommand(profile, 'iommufd', (c) => c.nr === nr && c.arg === 'extensible' && (testCmd || !c.testOnly));
  // An empty slot has ioctl_num 0; a request with other type/size/dir bits does not match either.
  if (!command || command.request !== cmd >>> 0) return fail(ERRNO.ENOTTY, 'unknown-cmd');
  return decodeExtensible(profile, command, arg.readable, size);
}

function decodeExtensible(profile: Profile, command: CommandDef, readable: Uint8Array, size: number): IoctlDecode {
  const layout = requireLayout(profile, command.struct ?? '');
  const min = offsetofend(profile, layout.name, command.minLast ?? '');
  if (size < min) return fail(ERRNO.EINVAL, 'min-size', command);
  const copied = copyStructFromUser(layout.size, readable, size);
  if ('errno' in copied) return fail(copied.errno, copied.stage, command);
  return { ok: true, command, kind: 'extensible', value: decodeWithLayout(layout, copied.bytes), bytes: copied.bytes, size };
}

/** iommufd_vfio_ioctl: the type1 compat commands, matched on the whole request number. */
function decodeVfioCompat(profile: Profile, cmd: number, arg: UserArg): IoctlDecode {
  const command = findCommand(profile, 'iommufd', (c) => c.arg !== 'extensible' && c.request === cmd >>> 0);
  if (!command) return fail(ERRNO.ENOTTY, 'unknown-cmd'); // includes VFIO_IOMMU_DIRTY_PAGES
  return decodeVfioCommand(profile, command, arg);
}

function decodeVfioCommand(profile: Profile, command: CommandDef, arg: UserArg): IoctlDecode {
  if (command.arg === 'none') return { ok: true, command, kind: 'none' };
  if (command.arg === 'int') return { ok: true, command, kind: 'int', arg: arg.value };
  return decodeArgsz(profile, command, arg.readable);
}

/**
 * VFIO argsz structs. 'copy-minsz' (most handlers): copy_from_user(minsz)
 * (EFAULT) then argsz < minsz → EINVAL; bytes past minsz are not read.
 * 'get-argsz' + 'copy-struct' (7.3 VFIO_DEVICE_BIND_IOMMUFD): get_user(argsz)
 * (EFAULT), argsz < minsz → EINVAL, then copy_struct_from_user with argsz (E2BIG).
 */
function decodeArgsz(profile: Profile, command: CommandDef, readable: Uint8Array | null): IoctlDecode {
  const layout = requireLayout(profile, command.struct ?? '');
  const minsz = offsetofend(profile, layout.name, command.minLast ?? '');
  const avail = readable ?? new Uint8Array(0);
  if (command.vfioRead === 'get-argsz') {
    if (avail.length < 4) return fail(ERRNO.EFAULT, 'read-size', command);
    const argsz = readU32(avail, 0);
    if (argsz < minsz) return fail(ERRNO.EINVAL, 'min-size', command);
    const copied = copyStructFromUser(layout.size, avail, argsz);
    if ('errno' in copied) return fail(copied.errno, copied.stage, command);
    return { ok: true, command, kind: 'vfio-argsz', value: decodeWithLayout(layout, copied.bytes), bytes: copied.bytes, size: argsz };
  }
  if (avail.length < minsz) return fail(ERRNO.EFAULT, 'copy', command);
  const argsz = readU32(avail, 0);
  if (argsz < minsz) return fail(ERRNO.EINVAL, 'min-size', command);
  const bytes = new Uint8Array(layout.size);
  bytes.set(avail.subarray(0, minsz));
  return { ok: true, command, kind: 'vfio-argsz', value: decodeWithLayout(layout, bytes), bytes, size: argsz };
}

/** vfio_device_fops_unl_ioctl: BIND first; every other ioctl needs a bound device; then the cdev commands. */
function decodeVfioDevice(profile: Profile, cmd: number, arg: UserArg, bound: boolean): IoctlDecode {
  const bind = findCommand(profile, 'vfio-device', (c) => c.name === 'VFIO_DEVICE_BIND_IOMMUFD');
  if (bind && bind.request === cmd >>> 0) return decodeVfioCommand(profile, bind, arg);
  if (!bound) return fail(ERRNO.EINVAL, 'not-bound');
  const command = findCommand(profile, 'vfio-device', (c) => c.request === cmd >>> 0);
  // Anything else goes to the device driver's ioctl (vfio-pci: ENOTTY for unknown commands).
  if (!command) return fail(ERRNO.ENOTTY, 'unknown-cmd');
  return decodeVfioCommand(profile, command, arg);
}

/**
 * Everything the kernel does with an ioctl before the command's handler runs.
 * Returns the errno the kernel would return, or the decoded command argument.
 */
export function decodeIoctl(profile: Profile, fd: FdKind, cmd: number, arg: UserArg, opts: DispatchOptions = {}): IoctlDecode {
  if (fd === 'vfio-device') return decodeVfioDevice(profile, cmd, arg, opts.deviceBound ?? true);
  return decodeIommufd(profile, cmd, arg, opts.testCmd ?? true);
}

/**
 * A VFIO struct tail that a flag makes the handler read (7.3 ATTACH/DETACH with
 * the PASID flag; device_cdev.c: `xend`): argsz must reach offsetofend(last)
 * (EINVAL), then the bytes from minsz to xend are copied (EFAULT). The handler
 * calls this after its own flag checks, as the kernel does.
 */
export function vfioCopyExtension(
  profile: Profile,
  decoded: StructDecode,
  readable: Uint8Array | null,
  ext: VfioExtension,
): { readonly errno: number } | { readonly value: StructValue; readonly bytes: Uint8Array } {
  const command = decoded.command;
  const layout = requireLayout(profile, command.struct ?? '');
  const minsz = offsetofend(profile, layout.name, command.minLast ?? '');
  const xend = offsetofend(profile, layout.name, ext.last);
  if (decoded.size < xend) return { errno: ERRNO.EINVAL };
  const avail = readable ?? new Uint8Array(0);
  if (avail.length < xend) return { errno: ERRNO.EFAULT };
  const bytes = decoded.bytes.slice();
  bytes.set(avail.subarray(minsz, xend), minsz);
  return { value: decodeWithLayout(layout, bytes), bytes };
}

/** One copy_to_user into the argument buffer. */
export interface UserWrite {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/**
 * What the handler copies back into the caller's argument on a response:
 *  - iommufd: iommufd_ucmd_respond: min(size, sizeof) bytes from offset 0;
 *  - VFIO_IOMMU_GET_INFO: min(argsz, sizeof(info)) bytes;
 *  - VFIO_IOMMU_UNMAP_DMA: minsz bytes;
 *  - VFIO_DEVICE_BIND_IOMMUFD: out_devid only; VFIO_DEVICE_ATTACH_IOMMUFD_PT: pt_id only;
 *  - VFIO_IOMMU_MAP_DMA, VFIO_DEVICE_DETACH_IOMMUFD_PT: nothing.
 * The caller applies the writes and returns EFAULT if one cannot be written.
 */
export function encodeResponse(profile: Profile, decoded: StructDecode, value: StructValue): UserWrite[] {
  const command = decoded.command;
  const layout = requireLayout(profile, command.struct ?? '');
  const bytes = encodeWithLayout(layout, value);
  if (decoded.kind === 'extensible') return [{ offset: 0, bytes: bytes.subarray(0, Math.min(decoded.size, layout.size)) }];
  const fieldWrite = (path: string): UserWrite => {
    const row = layout.rows.find((r) => r.path === path);
    if (!row) throw new Error(`${layout.name} has no ${path}`);
    return { offset: row.offset, bytes: bytes.subarray(row.offset, row.offset + row.size) };
  };
  switch (command.name) {
    case 'VFIO_IOMMU_GET_INFO':
      return [{ offset: 0, bytes: bytes.subarray(0, Math.min(decoded.size, layout.size)) }];
    case 'VFIO_IOMMU_UNMAP_DMA':
      return [{ offset: 0, bytes: bytes.subarray(0, offsetofend(profile, layout.name, command.minLast ?? '')) }];
    case 'VFIO_DEVICE_BIND_IOMMUFD':
      return [fieldWrite('out_devid')];
    case 'VFIO_DEVICE_ATTACH_IOMMUFD_PT':
      return [fieldWrite('pt_id')];
    default:
      return [];
  }
}

/** Applies writes to a copy of the argument bytes (for in-memory callers). */
export function applyWrites(arg: Uint8Array, writes: readonly UserWrite[]): Uint8Array {
  const out = arg.slice();
  for (const w of writes) out.set(w.bytes.subarray(0, Math.max(0, Math.min(w.bytes.length, out.length - w.offset))), w.offset);
  return out;
}
