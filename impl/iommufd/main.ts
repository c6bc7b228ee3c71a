/**
 * /dev/iommu: the per-open context and the ioctl entry point. Mirrors
 * drivers/iommu/iommufd/main.c: iommufd_fops_open, iommufd_fops_release,
 * iommufd_fops_ioctl, iommufd_destroy, iommufd_option and
 * iommufd_ucmd_respond. The dispatch ABI (VFIO compat fall-through for
 * numbers outside the table, get_user(size) -> EFAULT, empty slot -> ENOTTY,
 * size < min -> EINVAL, copy_struct_from_user -> E2BIG/EFAULT) is spec/abi's
 * decodeIoctl over spec/uapi's command data; this file keeps only the
 * per-command execute handlers.
 *
 * The argument is a user pointer into the calling process (impl/process), so
 * EFAULT arises exactly where the kernel's user copies fault.
 *
 * Public API: iommufdFopsOpen(proc, machine, profile, opts) -> { ctx, file },
 * iommufdFopsIoctl(ctx, cmd, arg) -> ret (>= 0 or a negative errno),
 * iommufdFopsRelease(ctx), iommufdIoctlDecode, IOMMUFD_IOCTL_HANDLERS,
 * iommufdHasCommand(name, profile), iommufdCmd(nr). The context, the ucmd and
 * the object structs are iommufd_private.ts's.
 */
import type { Process } from '../process/process.ts';
import type { Machine } from '../platform/machine.ts';
import { KFile } from '../process/file.ts';
import { EBUSY, EFAULT, EINVAL, ENOTTY, EOPNOTSUPP, EPERM } from '../lib/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET, IOMMU_OPTION_OP_SET, IOMMU_OPTION_RLIMIT_MODE, IOMMUFD_TYPE } from '../../spec/uapi/constants.ts';
import { iommufdObjectRemove } from './object.ts';
import { IommufdCtx, type IoctlExecute, type Profile, type Ucmd } from './iommufd_private.ts';
import { iommufdIoasAllocIoctl, iommufdIoasAllowIovas, iommufdIoasCopy, iommufdIoasIovaRanges, iommufdIoasMap, iommufdIoasOption, iommufdIoasUnmap } from './ioas.ts';
import { iommufdVfioIoas, iommufdVfioIoctl } from './vfio_compat.ts';
import { iommufdTest } from './selftest.ts';
import { iommufdHwptAlloc } from './hw_pagetable.ts';
import { iommufdGetHwInfo } from './device.ts';
import { decodeUserIoctl, layoutOf, UcmdStruct } from './ucmd.ts';
import type { IoctlDecode } from '../../spec/abi/dispatch.ts';
import { commandByName } from '../../spec/uapi/lookup.ts';

export type { Profile };

/** _IO(IOMMUFD_TYPE, nr): an iommufd command's request number from its _IOC_NR. */
export const iommufdCmd = (nr: number): number => (IOMMUFD_TYPE << 8) | nr;

/** iommufd_destroy */
function iommufdDestroy(ucmd: Ucmd): number {
  return iommufdObjectRemove(ucmd.ctx, ucmd.cmd.num('id'));
}

/** iommufd_option_rlimit_mode (ioas.c) */
function iommufdOptionRlimitMode(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('object_id')) return -EOPNOTSUPP;
  const opv = cmd.num('op');
  if (opv === IOMMU_OPTION_OP_GET) {
    cmd.set('val64', ctx.accountMode === 'MM' ? 1n : 0n);
    return 0;
  }
  if (opv === IOMMU_OPTION_OP_SET) {
    if (!ctx.proc.capable('CAP_SYS_RESOURCE')) return -EPERM;
    if (!ctx.objects.empty) return -EBUSY;
    const val = cmd.big('val64');
    if (val === 0n) ctx.accountMode = 'USER';
    else if (val === 1n) ctx.accountMode = 'MM';
    else return -EINVAL;
    return 0;
  }
  return -EOPNOTSUPP;
}

/** iommufd_option: on success val64 alone is copied back (EFAULT). */
function iommufdOption(ucmd: Ucmd): number {
  const { cmd } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  let rc: number;
  switch (cmd.num('option_id')) {
    case IOMMU_OPTION_RLIMIT_MODE:
      rc = iommufdOptionRlimitMode(ucmd);
      break;
    case IOMMU_OPTION_HUGE_PAGES:
      rc = iommufdIoasOption(ucmd);
      break;
    default:
      return -EOPNOTSUPP;
  }
  if (rc) return rc;
  return ucmd.ctx.proc.copyToUser(ucmd.ubuffer + BigInt(cmd.offsetOf('val64')), cmd.fieldBytes('val64')) ? 0 : -EFAULT;
}

/**
 * iommufd_ioctl_ops[]: the execute handlers the reference implements, keyed
 * by spec/uapi command name. The rest of each IOCTL_OP (number, struct,
 * min-size field, the table's extent) is spec/uapi's data, applied by
 * spec/abi's decodeIoctl.
 */
export const IOMMUFD_IOCTL_HANDLERS: { readonly [name: string]: IoctlExecute } = {
  IOMMU_DESTROY: iommufdDestroy,
  IOMMU_IOAS_ALLOC: iommufdIoasAllocIoctl,
  IOMMU_IOAS_ALLOW_IOVAS: iommufdIoasAllowIovas,
  IOMMU_IOAS_COPY: iommufdIoasCopy,
  IOMMU_IOAS_IOVA_RANGES: iommufdIoasIovaRanges,
  IOMMU_IOAS_MAP: iommufdIoasMap,
  IOMMU_IOAS_UNMAP: iommufdIoasUnmap,
  IOMMU_OPTION: iommufdOption,
  IOMMU_VFIO_IOAS: iommufdVfioIoas,
  IOMMU_HWPT_ALLOC: iommufdHwptAlloc,
  IOMMU_GET_HW_INFO: iommufdGetHwInfo,
  IOMMU_TEST_CMD: iommufdTest,
};

/** Whether the reference serves an iommufd command of the profile (capabilities). */
export function iommufdHasCommand(name: string, profile: Profile): boolean {
  const c = commandByName(profile, name);
  return c !== undefined && c.fd === 'iommufd' && c.arg === 'extensible' && IOMMUFD_IOCTL_HANDLERS[name] !== undefined;
}

/** What iommufd_fops_ioctl makes of (cmd, arg) before op->execute(): spec/abi's decodeIoctl over the process's memory. */
export function iommufdIoctlDecode(ctx: IommufdCtx, cmd: number, arg: bigint): IoctlDecode {
  return decodeUserIoctl(ctx.proc, ctx.profile, 'iommufd', cmd, arg);
}

/**
 * iommufd_fops_ioctl. Everything before op->execute() (VFIO compat
 * fall-through, get_user(size), empty slot, min size, copy_struct_from_user)
 * is spec/abi's decodeIoctl over the readable prefix of the argument.
 */
export function iommufdFopsIoctl(ctx: IommufdCtx, cmd: number, arg: bigint): number {
  const d = iommufdIoctlDecode(ctx, cmd, arg);
  // spec/abi answers with the errno userspace sees (positive).
  if (!d.ok) return -d.errno;
  if (d.kind !== 'extensible') return iommufdVfioIoctl(ctx, d, arg);
  const execute = IOMMUFD_IOCTL_HANDLERS[d.command.name];
  // A command of the profile the reference does not implement (capabilities report it unsupported).
  if (!execute) return -ENOTTY;
  const ucmd: Ucmd = {
    ctx,
    ubuffer: arg,
    userSize: d.size,
    cmd: new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes),
  };
  return execute(ucmd);
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
