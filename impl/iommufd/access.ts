/**
 * Access objects: in-kernel users of an IOAS (emulated/mediated devices, the
 * selftest's staccess). Mirrors the access half of
 * drivers/iommu/iommufd/device.c: iommufd_access_create,
 * iommufd_access_destroy, iommufd_access_attach, iommufd_access_replace,
 * iommufd_access_detach, iommufd_access_change_ioas,
 * iommufd_access_destroy_object, iommufd_access_pin_pages,
 * iommufd_access_unpin_pages, iommufd_access_rw, and (through IoptAccess)
 * iommufd_access_notify_unmap.
 *
 * Public API: class IommufdAccess, interface IommufdAccessOps,
 * iommufdAccessCreate(ctx, ops) -> Result<IommufdAccess>, iommufdAccessDestroy,
 * iommufdAccessAttach(access, ioasId), iommufdAccessReplace, iommufdAccessDetach,
 * iommufdAccessPinPages(access, iova, length, write) -> Result<number[] (pfns)>,
 * iommufdAccessUnpinPages, iommufdAccessRw(access, iova, data, write, slowPath?) -> 0 | -errno.
 */
import { EBUSY, EINVAL, ENOENT, EOVERFLOW, EPERM } from '../lib/errno.ts';
import { iommufdObjectAlloc, iommufdObjectDestroyUser, iommufdObjectFinalize, err, ok, refcount_dec, refcount_inc, type IommufdObject, type Result } from './object.ts';
import { type IommufdCtx, iommufdGetIoas, type IommufdIoas, type IoptAccess, type IoptArea, PAGE_SIZE, ULONG_MAX } from './iommufd_private.ts';
import { IOMMU_READ, IOMMU_WRITE, ioptAddAccess, ioptAreaContig, ioptAreaIovaToIndex, ioptAreaStartByte, ioptRemoveAccess } from './io_pagetable.ts';
import { ioptAreaAddAccess, ioptAreaRemoveAccess, ioptPagesRwAccess } from './pages.ts';
import { Unwind } from '../lib/unwind.ts';

const P = BigInt(PAGE_SIZE);

/** struct iommufd_access_ops */
export interface IommufdAccessOps {
  readonly needsPinPages: boolean;
  /** The driver must unpin everything it pinned in [iova, iova+length) before returning. */
  unmap(iova: bigint, length: bigint): void;
}

export class IommufdAccess implements IommufdObject, IoptAccess {
  readonly type = 'ACCESS' as const;
  id = 0;
  users = 1;
  ioptAccessListId = 0;
  readonly iovaAlignment: number;
  /** access->ioas: NULL blocks new pins while changing IOAS. */
  ioas: IommufdIoas | null = null;
  /** access->ioas_unpin: where existing pins are undone. */
  ioasUnpin: IommufdIoas | null = null;

  constructor(
    readonly ctx: IommufdCtx,
    readonly ops: IommufdAccessOps,
  ) {
    this.iovaAlignment = ops.needsPinPages ? PAGE_SIZE : 1;
  }

  notifyUnmap(iova: bigint, length: bigint): void {
    this.ops.unmap(iova, length);
  }

  /** iommufd_access_destroy_object */
  destroy(): void {
    if (this.ioas) {
      const rc = iommufdAccessChangeIoas(this, null);
      if (rc) throw new Error(`access destroy: change_ioas failed ${rc}`);
    }
    this.ctx.file?.put(); // iommufd_ctx_put
  }
}

/** iommufd_access_create: the driver holds a reference until iommufdAccessDestroy. */
export function iommufdAccessCreate(ctx: IommufdCtx, ops: IommufdAccessOps): Result<IommufdAccess> {
  const access = new IommufdAccess(ctx, ops);
  const rc = iommufdObjectAlloc(ctx, access);
  if (rc) return err(rc);
  refcount_inc(access);
  ctx.file?.get(); // iommufd_ctx_get
  iommufdObjectFinalize(ctx, access);
  return ok(access);
}

/** iommufd_access_destroy */
export function iommufdAccessDestroy(access: IommufdAccess): void {
  const rc = iommufdObjectDestroyUser(access.ctx, access);
  if (rc) throw new Error(`iommufd_access_destroy: ${rc}`);
}

/**
 * iommufd_access_change_ioas: join the new IOAS (its alignment may refuse:
 * EADDRINUSE), tell the driver to unpin everything in the old one, leave it.
 */
export function iommufdAccessChangeIoas(access: IommufdAccess, newIoas: IommufdIoas | null): number {
  const cur = access.ioas;
  // The slot in the old IOAS's access list, read before iopt_add_access gives the access one in the new list.
  const ioptAccessListId = access.ioptAccessListId;
  if (cur !== access.ioasUnpin) return -EBUSY;
  if (cur === newIoas) return 0;
  // access->ioas = NULL blocks further pins while the IOAS changes.
  const unwind = new Unwind();
  access.ioas = null;
  unwind.onError('access->ioas = cur_ioas', () => (access.ioas = cur));
  if (newIoas) {
    const rc = ioptAddAccess(newIoas.iopt, access);
    if (rc) return unwind.exit(rc);
    refcount_inc(newIoas);
  }
  unwind.exit(0);
  if (cur) {
    access.ops.unmap(0n, ULONG_MAX);
    ioptRemoveAccess(cur.iopt, ioptAccessListId);
    refcount_dec(cur);
  }
  access.ioas = newIoas;
  access.ioasUnpin = newIoas;
  return 0;
}

function changeIoasId(access: IommufdAccess, id: number): number {
  const r = iommufdGetIoas(access.ctx, id);
  if (r.errno) return r.errno;
  return iommufdAccessChangeIoas(access, r.value!);
}

/** iommufd_access_attach: EINVAL if already attached. */
export function iommufdAccessAttach(access: IommufdAccess, ioasId: number): number {
  if (access.ioas) return -EINVAL;
  return changeIoasId(access, ioasId);
}

/** iommufd_access_replace: ENOENT if not attached. */
export function iommufdAccessReplace(access: IommufdAccess, ioasId: number): number {
  if (!access.ioas) return -ENOENT;
  return changeIoasId(access, ioasId);
}

/** iommufd_access_detach */
export function iommufdAccessDetach(access: IommufdAccess): void {
  if (!access.ioas) return;
  iommufdAccessChangeIoas(access, null);
}

/** iopt_area_contig_is_aligned: the pinned range must start and (when it continues) end on page boundaries of the pages. */
function contigIsAligned(area: IoptArea, cur: bigint, isLastPiece: boolean): boolean {
  if (ioptAreaStartByte(area, cur) % P) return false;
  if (!isLastPiece && ioptAreaStartByte(area, area.last) % P !== P - 1n) return false;
  return true;
}

function checkAreaProt(area: IoptArea, write: boolean): boolean {
  return write ? (area.iommuProt & IOMMU_WRITE) !== 0 : (area.iommuProt & IOMMU_READ) !== 0;
}

function removeAccessPieces(access: IommufdAccess, ioas: IommufdIoas, iova: bigint, last: bigint): void {
  const { pieces } = ioptAreaContig(ioas.iopt, iova, last);
  for (const { area, cur } of pieces) {
    const pieceLast = last < area.last ? last : area.last;
    ioptAreaRemoveAccess(area, ioptAreaIovaToIndex(area, cur), ioptAreaIovaToIndex(area, pieceLast));
  }
}

/**
 * iommufd_access_pin_pages: pin the pages under [iova, iova+length-1]:
 * EINVAL (length 0, unaligned pieces, area being unmapped), EOVERFLOW,
 * ENOENT (not attached or not fully mapped), EPERM (prot), pinning errors.
 * Returns the frames, one per page.
 */
export function iommufdAccessPinPages(access: IommufdAccess, iova: bigint, length: bigint, write: boolean): Result<number[]> {
  if (!access.ops.needsPinPages) return err(-EINVAL);
  if (!length) return err(-EINVAL);
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return err(-EOVERFLOW);
  const ioas = access.ioas;
  if (!ioas) return err(-ENOENT);
  const { pieces, done } = ioptAreaContig(ioas.iopt, iova, last);
  const out: number[] = [];
  const unwind = new Unwind();
  for (const { area, cur } of pieces) {
    const pieceLast = last < area.last ? last : area.last;
    const isLastPiece = pieceLast === last;
    if (area.preventAccess || !contigIsAligned(area, cur, isLastPiece)) return unwind.exit(err(-EINVAL));
    if (!checkAreaProt(area, write)) return unwind.exit(err(-EPERM));
    const first = ioptAreaIovaToIndex(area, cur);
    const lastIndex = ioptAreaIovaToIndex(area, pieceLast);
    const r = ioptAreaAddAccess(area, first, lastIndex, write);
    if (r.errno) return unwind.exit(err(r.errno));
    unwind.onError('err_remove', () => ioptAreaRemoveAccess(area, first, lastIndex));
    out.push(...r.value!);
  }
  if (!done) return unwind.exit(err(-ENOENT));
  return unwind.exit(ok(out));
}

/** iommufd_access_unpin_pages: undo a matching iommufdAccessPinPages. */
export function iommufdAccessUnpinPages(access: IommufdAccess, iova: bigint, length: bigint): void {
  if (!length) return;
  const last = iova + length - 1n;
  if (last > ULONG_MAX || !access.ioasUnpin) return;
  removeAccessPieces(access, access.ioasUnpin, iova, last);
}

/**
 * iommufd_access_rw: byte-granular copy through the IOAS: EINVAL (length 0,
 * area being unmapped), EOVERFLOW, ENOENT (not attached / not mapped), EPERM,
 * EFAULT. Pieces before a failing one are already copied, as in the kernel.
 */
export function iommufdAccessRw(access: IommufdAccess, iova: bigint, data: Uint8Array, write: boolean, slowPath = false): number {
  if (!data.length) return -EINVAL;
  const last = iova + BigInt(data.length) - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  const ioas = access.ioas;
  if (!ioas) return -ENOENT;
  const { pieces, done } = ioptAreaContig(ioas.iopt, iova, last);
  let off = 0;
  for (const { area, cur } of pieces) {
    const pieceLast = last < area.last ? last : area.last;
    const bytes = Number(pieceLast - cur + 1n);
    if (area.preventAccess) return -EINVAL;
    if (!checkAreaProt(area, write)) return -EPERM;
    const rc = ioptPagesRwAccess(area.pages!, Number(ioptAreaStartByte(area, cur)), data.subarray(off, off + bytes), write, slowPath);
    if (rc) return rc;
    off += bytes;
  }
  return done ? 0 : -ENOENT;
}
