/**
 * Shared by the faults that send one failure of iommufd_test_create_access
 * (drivers/iommu/iommufd/selftest.c) past one rung of its unwind ladder:
 *
 *     rc = iommufd_access_attach(access, cmd->id);
 *     if (rc)
 *             goto out_destroy;
 *     cmd->create_access.out_access_fd = fdno;
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *     if (rc)
 *             goto out_destroy;
 *     ...
 * out_destroy:
 *     iommufd_access_destroy(access);
 * out_put_fdno:
 *     put_unused_fd(fdno);
 * out_free_staccess:
 *     fput(staccess->file);
 *
 * A copy of it in which the attach failure and the copy-back failure each may
 * skip one rung, and iommufd_access_create / iommufd_access_attach /
 * iommufd_access_destroy are steps. With none given, it answers as the reference does.
 */
import { ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES } from '../../../spec/uapi/constants.ts';
import { iommufdUcmdRespond, ULONG_MAX, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { iommufdAccessAttach, iommufdAccessCreate, iommufdAccessDestroy, iommufdAccessUnpinPages, type IommufdAccessOps } from '../../../impl/iommufd/access.ts';
import { KFile } from '../../../impl/process/file.ts';

export type CreateAccessRung = 'out_destroy' | 'out_put_fdno' | 'out_free_staccess';

/** iommufd_test_access_unmap: drop every item intersecting the range. */
function testAccessUnmap(staccess: SelftestAccess, iova: bigint, length: bigint): void {
  const last = iova + length - 1n;
  for (const item of [...staccess.items]) {
    if (iova > item.iova + item.length - 1n || last < item.iova) continue;
    staccess.items.splice(staccess.items.indexOf(item), 1);
    iommufdAccessUnpinPages(staccess.access!, item.iova, item.length);
  }
}

/** iommufd_test_staccess_release over the given iommufd_access_destroy. */
function staccessRelease(staccess: SelftestAccess, destroy: typeof iommufdAccessDestroy): void {
  if (staccess.access) {
    testAccessUnmap(staccess, 0n, ULONG_MAX);
    destroy(staccess.access);
  }
}

/** The steps of iommufd_test_create_access a fault may replace; each one not given is the reference's. */
export interface CreateAccessSteps {
  /** The rung of the unwind ladder a failed attach or copy-back skips (none: the whole ladder). */
  readonly skip?: { readonly attach?: CreateAccessRung; readonly respond?: CreateAccessRung };
  /** iommufd_access_create. */
  readonly create?: typeof iommufdAccessCreate;
  /** iommufd_access_destroy, at out_destroy and at the access file's release. */
  readonly destroy?: typeof iommufdAccessDestroy;
  /** iommufd_access_attach of the new access to the IOAS cmd->id names. */
  readonly attach?: typeof iommufdAccessAttach;
}

/** iommufd_test_create_access whose attach and copy-back failures skip the rung they name. */
export function createAccessSkipping(skip: NonNullable<CreateAccessSteps['skip']>): (ucmd: Ucmd) => number {
  return createAccessWith({ skip });
}

/** A copy of iommufd_test_create_access over the given steps (with none, the reference's). */
export function createAccessWith({ skip = {}, create = iommufdAccessCreate, destroy: accessDestroy = iommufdAccessDestroy, attach = iommufdAccessAttach }: CreateAccessSteps): (ucmd: Ucmd) => number {
  return (ucmd) => {
    const { cmd, ctx } = ucmd;
    const flags = cmd.num('create_access.flags');
    if (flags & ~MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) return -EOPNOTSUPP;
    if (ctx.faults.shouldFail()) return -ENOMEM; // kzalloc(staccess)
    const staccess = new SelftestAccess();
    staccess.needsPin = (flags & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) !== 0;
    // anon_inode_getfile: no FMODE_PREAD; no .read/.write/.poll.
    const file = new KFile('selftest-access', { release: () => staccessRelease(staccess, accessDestroy) }, staccess, false);
    staccess.file = file;
    const ops: IommufdAccessOps = {
      needsPinPages: staccess.needsPin,
      unmap: (iova, length) => testAccessUnmap(staccess, iova, length),
    };
    const fdno = ctx.proc.fds.getUnusedFd();
    /** The ladder from `from` down, less the rung `skipped`. */
    const unwind = (rc: number, from: CreateAccessRung, skipped: CreateAccessRung | undefined, destroy?: () => void): number => {
      const rungs: Record<CreateAccessRung, () => void> = { out_destroy: () => destroy?.(), out_put_fdno: () => ctx.proc.fds.putUnusedFd(fdno), out_free_staccess: () => file.put() };
      const order: CreateAccessRung[] = ['out_destroy', 'out_put_fdno', 'out_free_staccess'];
      for (const rung of order.slice(order.indexOf(from))) if (rung !== skipped) rungs[rung]();
      return rc;
    };
    const a = create(ctx, ops);
    if (a.errno) return unwind(a.errno, 'out_put_fdno', undefined);
    const access = a.value!;
    const destroy = (): void => accessDestroy(access);
    let rc = attach(access, cmd.num('id'));
    if (rc) return unwind(rc, 'out_destroy', skip.attach, destroy);
    cmd.set('create_access.out_access_fd', fdno);
    rc = iommufdUcmdRespond(ucmd);
    if (rc) return unwind(rc, 'out_destroy', skip.respond, destroy);
    staccess.access = access;
    ctx.proc.fds.fdInstall(fdno, file);
    return 0;
  };
}
