/**
 * /dev/iommu: the per-open context and the ioctl entry point. Mirrors
 * drivers/iommu/iommufd/main.c: iommufd_fops_open, iommufd_fops_release,
 * iommufd_fops_ioctl (dispatch: VFIO compat fall-through for numbers outside
 * the table, get_user(size) -> EFAULT, empty slot -> ENOTTY, size < min ->
 * EINVAL, copy_struct_from_user -> E2BIG/EFAULT), iommufd_destroy,
 * iommufd_option and iommufd_ucmd_respond.
 *
 * The argument is a user pointer into the calling process (impl/process), so
 * EFAULT arises exactly where the kernel's user copies fault.
 *
 * Public API:
 *   class IommufdCtx (objects, proc, faults, accountMode, vfioIoas, noIommuMode,
 *     groups [DEVICES], profile, file)
 *   iommufdFopsOpen(proc, machine, profile, opts) -> { ctx, file }; iommufdFopsIoctl(ctx, cmd, arg) -> SysRet
 *   iommufdFopsRelease(ctx); interface Ucmd; type IoctlOp; IOMMUFD_CMD_BASE; IOMMUFD_IOCTL_OPS
 *   iommufdUcmdRespond(ucmd, len) -> errno
 * DEVICES adds its commands to IOMMUFD_IOCTL_OPS below (marked section).
 */
import type { Process } from '../process/process.ts';
import type { Machine } from '../platform/machine.ts';
import { KFile, sysErr, sysOk, type SysRet } from '../process/file.ts';
import { E2BIG, EBUSY, EFAULT, EINVAL, ENOTTY, EOPNOTSUPP, EPERM } from './errno.ts';
import type { FaultInjector } from './fail_nth.ts';
import { iommufdObjectRemove, ObjectTable, type IommufdObject } from './object.ts';
import { iommufdIoasAllocIoctl, iommufdIoasAllowIovas, iommufdIoasCopy, iommufdIoasIovaRanges, iommufdIoasMap, iommufdIoasOption, iommufdIoasUnmap } from './ioas.ts';
import { iommufdVfioIoas, iommufdVfioIoctl } from './vfio_compat.ts';
import { iommufdTest } from './selftest.ts';
import { layoutOf, UcmdStruct, type Layout } from './ucmd.ts';
// DEVICES: device-side commands
import { iommufdHwptAlloc } from './hw_pagetable.ts';
import { iommufdGetHwInfo } from './device.ts';

export type Profile = '6.12' | '7.3';

export const IOMMUFD_TYPE = 0x3b; // ';'
export const IOMMUFD_CMD_BASE = 0x80;
export const iommufdCmd = (nr: number): number => (IOMMUFD_TYPE << 8) | nr;

export type AccountMode = 'USER' | 'MM';

export class IommufdCtx {
  readonly objects = new ObjectTable();
  /** ctx->account_mode: IOPT_PAGES_ACCOUNT_USER or _MM. */
  accountMode: AccountMode;
  /** ctx->vfio_ioas: the compat IOAS (no reference held). */
  vfioIoas: IommufdObject | null = null;
  noIommuMode = false;
  /** ctx->groups: iommufd_group per iommu_group (DEVICES' group.ts owns the values). */
  readonly groups = new Map<unknown, unknown>();
  /** The struct file of this context (set by iommufdFopsOpen). */
  file: KFile | null = null;
  /** Kernel WARN_ONs the reference hit (refcount bugs); empty in a correct run. */
  readonly warnings: string[] = [];

  constructor(
    /** The process that opened the file; the single task of the model issues every ioctl. */
    readonly proc: Process,
    readonly profile: Profile,
    accountMode: AccountMode,
    /** The simulated machine (IOMMU instances, devices) DEVICES' code works on, or a maker called on first use. */
    machine: Machine | (() => Machine),
  ) {
    this.accountMode = accountMode;
    this.machineOrMaker = machine;
  }

  private machineOrMaker: Machine | (() => Machine);

  get machine(): Machine {
    if (typeof this.machineOrMaker === 'function') this.machineOrMaker = this.machineOrMaker();
    return this.machineOrMaker;
  }

  get faults(): FaultInjector {
    return this.proc.faults;
  }

  /** The calling process (DEVICES' DeviceCtx name for it). */
  get process(): Process {
    return this.proc;
  }
}

/** struct iommufd_ucmd */
export interface Ucmd {
  readonly ctx: IommufdCtx;
  /** ucmd->ictx (same as ctx). */
  readonly ictx: IommufdCtx;
  /** iommufd_ucmd_respond(ucmd, sizeof(*cmd)). */
  respond(): number;
  /** The user's argument pointer. */
  readonly ubuffer: bigint;
  readonly userSize: number;
  /** The kernel copy of the struct (op->size bytes). */
  readonly cmd: UcmdStruct;
}

/** iommufd_ucmd_respond: copy min(user size, len) bytes of the struct back (EFAULT). */
export function iommufdUcmdRespond(ucmd: Ucmd, len: number = ucmd.cmd.layout.size): number {
  const n = Math.min(ucmd.userSize, len);
  return ucmd.ctx.proc.copyToUser(ucmd.ubuffer, ucmd.cmd.bytes.subarray(0, n)) ? 0 : EFAULT;
}

export interface IoctlOp {
  readonly name: string;
  readonly nr: number;
  readonly layout: (profile: Profile) => Layout;
  /** IOCTL_OP's _last: min_size = offsetofend(struct, last). */
  readonly last: string;
  readonly execute: (ucmd: Ucmd) => number;
  /** Profiles whose kernel has the command (absent = all). */
  readonly profiles?: readonly Profile[];
}

const op = (name: string, nr: number, struct: string, last: string, execute: (ucmd: Ucmd) => number, profiles?: readonly Profile[]): IoctlOp => ({
  name,
  nr,
  layout: (profile: Profile) => layoutOf(struct, profile),
  last,
  execute,
  profiles,
});

/** iommufd_destroy */
function iommufdDestroy(ucmd: Ucmd): number {
  return iommufdObjectRemove(ucmd.ctx, ucmd.cmd.num('id'));
}

export const IOMMU_OPTION_RLIMIT_MODE = 0;
export const IOMMU_OPTION_HUGE_PAGES = 1;
export const IOMMU_OPTION_OP_SET = 0;
export const IOMMU_OPTION_OP_GET = 1;

/** iommufd_option_rlimit_mode (ioas.c) */
function iommufdOptionRlimitMode(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('object_id')) return EOPNOTSUPP;
  const opv = cmd.num('op');
  if (opv === IOMMU_OPTION_OP_GET) {
    cmd.set('val64', ctx.accountMode === 'MM' ? 1n : 0n);
    return 0;
  }
  if (opv === IOMMU_OPTION_OP_SET) {
    if (!ctx.proc.capable('CAP_SYS_RESOURCE')) return EPERM;
    if (!ctx.objects.empty) return EBUSY;
    const val = cmd.big('val64');
    if (val === 0n) ctx.accountMode = 'USER';
    else if (val === 1n) ctx.accountMode = 'MM';
    else return EINVAL;
    return 0;
  }
  return EOPNOTSUPP;
}

/** iommufd_option: on success val64 alone is copied back (EFAULT). */
function iommufdOption(ucmd: Ucmd): number {
  const { cmd } = ucmd;
  if (cmd.num('__reserved')) return EOPNOTSUPP;
  let rc: number;
  switch (cmd.num('option_id')) {
    case IOMMU_OPTION_RLIMIT_MODE:
      rc = iommufdOptionRlimitMode(ucmd);
      break;
    case IOMMU_OPTION_HUGE_PAGES:
      rc = iommufdIoasOption(ucmd);
      break;
    default:
      return EOPNOTSUPP;
  }
  if (rc) return rc;
  const off = cmd.layout.fields.get('val64')!.offset;
  return ucmd.ctx.proc.copyToUser(ucmd.ubuffer + BigInt(off), cmd.bytes.subarray(off, off + 8)) ? 0 : EFAULT;
}

/** iommufd_ioctl_ops[], indexed by nr - IOMMUFD_CMD_BASE. */
export const IOMMUFD_IOCTL_OPS: IoctlOp[] = [
  op('IOMMU_DESTROY', 0x80, 'iommu_destroy', 'id', iommufdDestroy),
  op('IOMMU_IOAS_ALLOC', 0x81, 'iommu_ioas_alloc', 'out_ioas_id', iommufdIoasAllocIoctl),
  op('IOMMU_IOAS_ALLOW_IOVAS', 0x82, 'iommu_ioas_allow_iovas', 'allowed_iovas', iommufdIoasAllowIovas),
  op('IOMMU_IOAS_COPY', 0x83, 'iommu_ioas_copy', 'src_iova', iommufdIoasCopy),
  op('IOMMU_IOAS_IOVA_RANGES', 0x84, 'iommu_ioas_iova_ranges', 'out_iova_alignment', iommufdIoasIovaRanges),
  op('IOMMU_IOAS_MAP', 0x85, 'iommu_ioas_map', 'iova', iommufdIoasMap),
  op('IOMMU_IOAS_UNMAP', 0x86, 'iommu_ioas_unmap', 'length', iommufdIoasUnmap),
  op('IOMMU_OPTION', 0x87, 'iommu_option', 'val64', iommufdOption),
  op('IOMMU_VFIO_IOAS', 0x88, 'iommu_vfio_ioas', '__reserved', iommufdVfioIoas),
  // ---- DEVICES: IOMMU_HWPT_ALLOC (0x89), IOMMU_GET_HW_INFO (0x8a), ... ----
  op('IOMMU_HWPT_ALLOC', 0x89, 'iommu_hwpt_alloc', '__reserved', iommufdHwptAlloc),
  op('IOMMU_GET_HW_INFO', 0x8a, 'iommu_hw_info', '__reserved', iommufdGetHwInfo),
  // ---- end DEVICES ----
  op('IOMMU_TEST_CMD', 0xa0, 'iommu_test_cmd', 'last', iommufdTest),
];

/** The table spans nr 0x80..0xa0 (IOMMU_TEST_CMD is compiled in: CONFIG_IOMMUFD_TEST). */
const TABLE_LEN = 0xa0 - IOMMUFD_CMD_BASE + 1;

function findOp(nr: number, profile: Profile): IoctlOp | undefined {
  return IOMMUFD_IOCTL_OPS.find((o) => o.nr === nr && (!o.profiles || o.profiles.includes(profile)));
}

/** Whether the profile's dispatch table has the command (capabilities). */
export function iommufdHasCommand(name: string, profile: Profile): boolean {
  return IOMMUFD_IOCTL_OPS.some((o) => o.name === name && (!o.profiles || o.profiles.includes(profile)));
}

/**
 * copy_struct_from_user: a shorter user struct is zero-extended; a longer one
 * must have an all-zero tail (check_zeroed_user: E2BIG at the first non-zero
 * byte, EFAULT where it cannot be read, page by page), then the struct itself
 * is read (EFAULT).
 */
function copyStructFromUser(proc: Process, ksize: number, src: bigint, usize: number): { errno: number; bytes?: Uint8Array } {
  const size = Math.min(ksize, usize);
  if (usize > ksize) {
    let at = src + BigInt(ksize);
    let left = usize - ksize;
    while (left > 0) {
      const n = Math.min(left, 4096 - Number(at % 4096n));
      const chunk = proc.copyFromUser(at, n);
      if (!chunk) return { errno: EFAULT };
      if (chunk.some((b) => b !== 0)) return { errno: E2BIG };
      at += BigInt(n);
      left -= n;
    }
  }
  const head = proc.copyFromUser(src, size);
  if (!head) return { errno: EFAULT };
  const bytes = new Uint8Array(ksize);
  bytes.set(head);
  return { errno: 0, bytes };
}

/** iommufd_fops_ioctl */
export function iommufdFopsIoctl(ctx: IommufdCtx, cmd: number, arg: bigint): SysRet {
  const nr = cmd & 0xff;
  // Only _IOC_NR selects the slot; the full number is compared with the slot's below.
  if (nr < IOMMUFD_CMD_BASE || nr - IOMMUFD_CMD_BASE >= TABLE_LEN) return iommufdVfioIoctl(ctx, cmd, arg);
  const userSize = ctx.proc.getUserU32(arg);
  if (userSize === null) return sysErr(EFAULT);
  const o = findOp(nr, ctx.profile);
  if (!o || iommufdCmd(o.nr) !== cmd) return sysErr(ENOTTY);
  const layout = o.layout(ctx.profile);
  if (userSize < layout.offsetofend(o.last)) return sysErr(EINVAL);
  const copied = copyStructFromUser(ctx.proc, layout.size, arg, userSize);
  if (copied.errno) return sysErr(copied.errno);
  const ucmd: Ucmd = {
    ctx,
    ictx: ctx,
    ubuffer: arg,
    userSize,
    cmd: new UcmdStruct(layout, copied.bytes),
    respond: () => iommufdUcmdRespond(ucmd),
  };
  const rc = o.execute(ucmd);
  return rc ? sysErr(rc) : sysOk(0);
}

/**
 * iommufd_fops_release: destroy every object whose users == 1, repeatedly,
 * leaves first, until the table is empty.
 */
export function iommufdFopsRelease(ctx: IommufdCtx): void {
  while (!ctx.objects.empty) {
    let destroyed = 0;
    for (const [id, obj] of ctx.objects.entries()) {
      if (obj.users !== 1) continue;
      obj.users = 0;
      ctx.objects.erase(id);
      obj.destroy();
      destroyed++;
    }
    if (!destroyed) {
      // WARN_ON(!destroyed) in the kernel: a users-refcount bug; record it and stop, as the kernel does.
      ctx.warnings.push(`iommufd release: objects still referenced: ${ctx.objects.entries().map(([id, o]) => `${o.type}#${id}(users ${o.users})`).join(', ')}`);
      break;
    }
  }
  ctx.vfioIoas = null;
}

export interface OpenOptions {
  /** Opened as /dev/vfio/vfio: the context starts in MM accounting mode. */
  readonly viaVfioContainer?: boolean;
}

/** iommufd_fops_open: a new context behind a new file. */
export function iommufdFopsOpen(proc: Process, machine: Machine | (() => Machine), profile: Profile, opts: OpenOptions = {}): { ctx: IommufdCtx; file: KFile } {
  const ctx = new IommufdCtx(proc, profile, opts.viaVfioContainer ? 'MM' : 'USER', machine);
  const file = new KFile(
    'iommufd',
    {
      release: () => iommufdFopsRelease(ctx),
      ioctl: (_f, cmd, arg) => iommufdFopsIoctl(ctx, cmd, arg),
    },
    ctx,
  );
  ctx.file = file;
  return { ctx, file };
}

/** iommufd_ctx_from_file: EBADFD for a file that is not an iommufd. */
export function iommufdCtxFromFile(file: KFile): { errno: number; ctx?: IommufdCtx } {
  if (file.kind !== 'iommufd' || !(file.private_data instanceof IommufdCtx)) return { errno: 77 /* EBADFD */ };
  return { errno: 0, ctx: file.private_data };
}
