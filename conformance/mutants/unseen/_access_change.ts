/**
 * Shared by the faults in iommufd_access_change_ioas (device.c), the move of
 * an in-kernel access between IOASes: a copy of it whose steps are
 * parameters, and the selftest's IOMMU_TEST_OP_ACCESS_REPLACE_IOAS
 * (iommufd_test_access_replace_ioas → iommufd_access_replace →
 * iommufd_access_change_ioas_id) over it. With the kernel's steps it
 * answers exactly as the reference does.
 */
import { EBUSY, ENOENT } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_REPLACE_IOAS } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, ULONG_MAX, type IoctlExecute, type IommufdIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAddAccess, ioptRemoveAccess } from '../../../impl/iommufd/io_pagetable.ts';
import { refcount_dec, refcount_inc, type IommufdObject } from '../../../impl/iommufd/object.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { accessGet } from './_access_pages.ts';
import { patchOwn } from '../harness.ts';

export type ChangeIoas = (access: IommufdAccess, newIoas: IommufdIoas | null) => number;

export interface ChangeIoasSteps {
  /** The driver's ops->unmap(0, ULONG_MAX) runs before iopt_add_access (the kernel's: once the move can no longer fail). */
  readonly unmapsBeforeAdd?: boolean;
  /** A replace takes no reference on the new IOAS and drops none on the old (the kernel's: `refcount_inc` and `refcount_dec` always). */
  readonly replaceMovesReference?: boolean;
  /** The old IOAS's refcount_dec. */
  readonly refcountDec?: (access: IommufdAccess, obj: IommufdObject) => void;
  /** A replace leaves the access on the old IOAS's access_list (the kernel's: iopt_remove_access whenever there is one). */
  readonly replaceKeepsOldListEntry?: boolean;
  /** iopt_remove_access: the old IOAS's list entry erased and its IOVA alignment recalculated. */
  readonly removeAccess?: typeof ioptRemoveAccess;
}

/** iommufd_access_change_ioas over the given steps. */
export function changeIoasWith({ unmapsBeforeAdd = false, replaceMovesReference = false, refcountDec = (_access, obj) => refcount_dec(obj), replaceKeepsOldListEntry = false, removeAccess = ioptRemoveAccess }: ChangeIoasSteps): ChangeIoas {
  return (access, newIoas) => {
    const listId = access.ioptAccessListId;
    const cur = access.ioas;
    if (cur !== access.ioasUnpin) return -EBUSY;
    if (cur === newIoas) return 0;
    if (unmapsBeforeAdd && cur) access.ops.unmap(0n, ULONG_MAX);
    access.ioas = null;
    if (newIoas) {
      const rc = ioptAddAccess(newIoas.iopt, access);
      if (rc) {
        access.ioas = cur;
        return rc;
      }
      if (!replaceMovesReference || !cur) refcount_inc(newIoas);
    }
    if (cur) {
      if (!unmapsBeforeAdd) access.ops.unmap(0n, ULONG_MAX);
      if (!replaceKeepsOldListEntry || !newIoas) removeAccess(cur.iopt, listId);
      if (!replaceMovesReference || !newIoas) refcountDec(access, cur);
    }
    access.ioas = newIoas;
    access.ioasUnpin = newIoas;
    return 0;
  };
}

/** The IOMMU_TEST_CMD handler whose IOMMU_TEST_OP_ACCESS_REPLACE_IOAS moves the access through `change`; every other op is the reference's. */
export function accessReplaceIoasWith(change: ChangeIoas): (ucmd: Ucmd, original: IoctlExecute) => number {
  return (ucmd, original) => {
    if (ucmd.cmd.num('op') !== IOMMU_TEST_OP_ACCESS_REPLACE_IOAS) return original(ucmd);
    const g = accessGet(ucmd, ucmd.cmd.num('id'));
    if (g.errno) return g.errno;
    try {
      const access = g.staccess!.access!;
      if (!access.ioas) return -ENOENT;
      const r = iommufdGetIoas(access.ctx, ucmd.cmd.num('access_replace_ioas.ioas_id'));
      if (r.errno) return r.errno;
      return change(access, r.value!);
    } finally {
      g.file!.put();
    }
  };
}

/** iommufd_access_destroy_object over `change`: WARN_ON(iommufd_access_change_ioas(access, NULL)); iommufd_ctx_put. */
export function patchAccessDestroy(access: IommufdAccess, change: ChangeIoas): void {
  patchOwn(access, 'destroy', () => () => {
    if (access.ioas) {
      const rc = change(access, null);
      if (rc) access.ctx.warnings.push(`iommufd_access_destroy_object: WARN_ON(change_ioas) ${rc}`);
    }
    access.ctx.file?.put();
  });
}
