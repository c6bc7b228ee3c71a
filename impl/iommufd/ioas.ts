/**
 * IOAS objects and their ioctls. Mirrors drivers/iommu/iommufd/ioas.c:
 * iommufd_ioas_alloc, iommufd_ioas_destroy, iommufd_ioas_alloc_ioctl,
 * iommufd_ioas_iova_ranges, iommufd_ioas_load_iovas,
 * iommufd_ioas_allow_iovas, conv_iommu_prot, iommufd_ioas_map,
 * iommufd_ioas_copy, iommufd_ioas_unmap, iommufd_ioas_option.
 *
 * Public API: iommufdIoasAlloc(ctx) ->
 * Result<IommufdIoas> (unfinalized), the ioctl handlers, convIommuProt.
 */
import { EFAULT, EINVAL, EMSGSIZE, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW, errnoName } from '../lib/errno.ts';
import {
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
} from '../../spec/uapi/constants.ts';
import { flagMask } from '../../spec/uapi/lookup.ts';
import { requireLayout } from '../../spec/uapi/layout.ts';
import { decodeStruct, encodeStruct } from '../../spec/abi/codec.ts';
import { err, iommufdObjectAbortAndDestroy, iommufdObjectAlloc, iommufdObjectFinalize, ok, type Result } from './object.ts';
import {
  type IommufdCtx,
  type IommufdIoas,
  iommufdGetIoas,
  iommufdUcmdRespond,
  IoPagetable,
  type PagesListElm,
  type Range,
  type Ucmd,
  ULONG_MAX,
} from './iommufd_private.ts';
import {
  IOMMU_CACHE,
  IOMMU_READ,
  IOMMU_WRITE,
  IOPT_ALLOC_IOVA,
  ioptDestroyTable,
  ioptDisableLargePages,
  ioptEnableLargePages,
  ioptFreePagesList,
  ioptGetPages,
  ioptIovaRanges,
  ioptMapPages,
  ioptMapUserPages,
  ioptSetAllowIova,
  ioptUnmapAll,
  ioptUnmapIova,
} from './io_pagetable.ts';
import { iommufdTestSyzConvIovaId } from './selftest.ts';
import { Unwind } from '../lib/unwind.ts';

/** The IOAS_MAP/COPY flags (enum iommufd_ioas_map_flags; the same in both profiles). */
const MAP_FLAGS = flagMask('6.12', 'iommufd_ioas_map_flags');
const U64_MAX = ULONG_MAX;

/**
 * iommufd_ioas_destroy: unmap everything and free the table. The kernel only
 * WARNs when iopt_unmap_all fails (WARN_ON(rc && rc != -ENOENT)) and frees the
 * table anyway; the reference records the warning (ctx.warnings) and goes on.
 */
function iommufdIoasDestroy(ctx: IommufdCtx, ioas: IommufdIoas): void {
  const rc = ioptUnmapAll(ioas.iopt, { bytes: 0n });
  if (rc && rc !== -ENOENT) ctx.warnings.push(`iommufd_ioas_destroy: iopt_unmap_all of IOAS ${ioas.id} failed (${errnoName(rc)})`);
  ioptDestroyTable(ioas.iopt);
}

/** iommufd_ioas_alloc: an unfinalized IOAS (the caller finalizes or aborts). */
export function iommufdIoasAlloc(ctx: IommufdCtx): Result<IommufdIoas> {
  const ioas: IommufdIoas = {
    type: 'IOAS',
    id: 0,
    users: 1,
    iopt: new IoPagetable(ctx.faults),
    hwptList: [],
    destroy: () => iommufdIoasDestroy(ctx, ioas),
  };
  const rc = iommufdObjectAlloc(ctx, ioas);
  return rc ? err(rc) : ok(ioas);
}

/** iommufd_ioas_alloc_ioctl: flags -> EOPNOTSUPP; a copy-back fault aborts the new IOAS. */
export function iommufdIoasAllocIoctl(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('flags')) return -EOPNOTSUPP;
  const r = iommufdIoasAlloc(ctx);
  if (r.errno) return r.errno;
  const ioas = r.value!;
  const unwind = new Unwind();
  unwind.onError('out_table', () => iommufdObjectAbortAndDestroy(ctx, ioas));
  cmd.set('out_ioas_id', ioas.id);
  const rc = iommufdUcmdRespond(ucmd);
  if (rc) return unwind.exit(rc);
  iommufdObjectFinalize(ctx, ioas);
  return unwind.exit(0);
}

/**
 * iommufd_ioas_iova_ranges: writes up to num_iovas holes of the reserved set,
 * then num_iovas = total and the alignment; EMSGSIZE after the copy-back when
 * the array was too small.
 */
export function iommufdIoasIovaRanges(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const ioas = r.value!;
  const maxIovas = cmd.num('num_iovas');
  const ranges = cmd.big('allowed_iovas');
  let num = 0;
  cmd.set('out_iova_alignment', BigInt(ioas.iopt.iovaAlignment));
  const elmSize = requireLayout(ctx.profile, 'iommu_iova_range').size;
  for (const hole of ioptIovaRanges(ioas.iopt)) {
    if (num < maxIovas) {
      const elm = encodeStruct(ctx.profile, 'iommu_iova_range', { start: hole.start, last: hole.last });
      if (!ctx.proc.copyToUser(ranges + BigInt(num * elmSize), elm)) return -EFAULT;
    }
    num++;
  }
  cmd.set('num_iovas', num);
  const rc = iommufdUcmdRespond(ucmd);
  if (rc) return rc;
  return num > maxIovas ? -EMSGSIZE : 0;
}

/** iommufd_ioas_load_iovas: EFAULT, start >= last -> EINVAL, overlap -> EINVAL, ENOMEM. */
function iommufdIoasLoadIovas(ctx: IommufdCtx, uptr: bigint, num: number, out: Range[]): number {
  const elmSize = requireLayout(ctx.profile, 'iommu_iova_range').size;
  for (let i = 0; i < num; i++) {
    const b = ctx.proc.copyFromUser(uptr + BigInt(i * elmSize), elmSize);
    if (!b) return -EFAULT;
    const { start, last } = decodeStruct(ctx.profile, 'iommu_iova_range', b) as { start: bigint; last: bigint };
    if (start >= last) return -EINVAL;
    if (out.some((r) => r.start <= last && r.last >= start)) return -EINVAL;
    if (ctx.faults.shouldFail()) return -ENOMEM;
    out.push({ start, last });
  }
  return 0;
}

/** iommufd_ioas_allow_iovas: replace the allowed list atomically (EADDRINUSE vs reserved). */
export function iommufdIoasAllowIovas(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const allowed: Range[] = [];
  const rc = iommufdIoasLoadIovas(ctx, cmd.big('allowed_iovas'), cmd.num('num_iovas'), allowed);
  if (rc) return rc;
  return ioptSetAllowIova(r.value!.iopt, allowed);
}

/** conv_iommu_prot: every mapping is IOMMU_CACHE. */
export function convIommuProt(mapFlags: number): number {
  let prot = IOMMU_CACHE;
  if (mapFlags & IOMMU_IOAS_MAP_WRITEABLE) prot |= IOMMU_WRITE;
  if (mapFlags & IOMMU_IOAS_MAP_READABLE) prot |= IOMMU_READ;
  return prot;
}

/** iommufd_ioas_map */
export function iommufdIoasMap(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const flags = cmd.num('flags');
  if (flags & ~MAP_FLAGS || cmd.num('__reserved')) return -EOPNOTSUPP;
  if (cmd.big('iova') >= ULONG_MAX || cmd.big('length') >= ULONG_MAX) return -EOVERFLOW;
  if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const m = ioptMapUserPages(
    r.value!.iopt,
    ctx.proc,
    ctx.accountMode === 'MM',
    cmd.big('iova'),
    cmd.big('user_va'),
    cmd.big('length'),
    convIommuProt(flags),
    flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA,
    ctx.profile,
  );
  if (m.errno) return m.errno;
  cmd.set('iova', m.value!);
  return iommufdUcmdRespond(ucmd);
}

/** iommufd_ioas_copy: the new areas share the source's iopt_pages (pinned once). */
export function iommufdIoasCopy(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  iommufdTestSyzConvIovaId(ucmd, cmd.num('src_ioas_id'), 'src_iova');
  const flags = cmd.num('flags');
  if (flags & ~MAP_FLAGS) return -EOPNOTSUPP;
  const length = cmd.big('length');
  if (length >= ULONG_MAX || cmd.big('src_iova') >= ULONG_MAX || cmd.big('dst_iova') >= ULONG_MAX) return -EOVERFLOW;
  if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;
  const src = iommufdGetIoas(ctx, cmd.num('src_ioas_id'));
  if (src.errno) return src.errno;
  const list: PagesListElm[] = [];
  let rc = ioptGetPages(src.value!.iopt, cmd.big('src_iova'), length, list);
  if (rc) return rc;
  const unwind = new Unwind();
  unwind.always('out_pages', () => ioptFreePagesList(list));
  const dst = iommufdGetIoas(ctx, cmd.num('dst_ioas_id'));
  if (dst.errno) return unwind.exit(dst.errno);
  const iova = { iova: cmd.big('dst_iova') };
  rc = ioptMapPages(dst.value!.iopt, list, length, iova, convIommuProt(flags), flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA);
  if (rc) return unwind.exit(rc);
  cmd.set('dst_iova', iova.iova);
  return unwind.exit(iommufdUcmdRespond(ucmd));
}

/**
 * iommufd_ioas_unmap: (0, U64_MAX) unmaps everything and always succeeds;
 * otherwise EOVERFLOW, iopt_unmap_iova's errors, and ENOENT when nothing was
 * unmapped. `length` is written back only on success.
 */
export function iommufdIoasUnmap(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const iopt = r.value!.iopt;
  const iova = cmd.big('iova');
  const length = cmd.big('length');
  const unmapped = { bytes: 0n };
  let rc: number;
  if (iova === 0n && length === U64_MAX) {
    rc = ioptUnmapAll(iopt, unmapped);
    if (rc) return rc;
  } else {
    if (iova >= ULONG_MAX || length >= ULONG_MAX) return -EOVERFLOW;
    rc = ioptUnmapIova(iopt, iova, length, unmapped);
    if (rc) return rc;
    if (!unmapped.bytes) return -ENOENT;
  }
  cmd.set('length', unmapped.bytes);
  return iommufdUcmdRespond(ucmd);
}

/** iommufd_ioas_option + iommufd_ioas_option_huge_pages (IOMMU_OPTION_HUGE_PAGES). */
export function iommufdIoasOption(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const r = iommufdGetIoas(ctx, cmd.num('object_id'));
  if (r.errno) return r.errno;
  if (cmd.num('option_id') !== IOMMU_OPTION_HUGE_PAGES) return -EOPNOTSUPP;
  const iopt = r.value!.iopt;
  const opv = cmd.num('op');
  if (opv === IOMMU_OPTION_OP_GET) {
    cmd.set('val64', iopt.disableLargePages ? 0n : 1n);
    return 0;
  }
  if (opv === IOMMU_OPTION_OP_SET) {
    const val = cmd.big('val64');
    if (val === 0n) return ioptDisableLargePages(iopt);
    if (val === 1n) {
      ioptEnableLargePages(iopt);
      return 0;
    }
    return -EINVAL;
  }
  return -EOPNOTSUPP;
}
