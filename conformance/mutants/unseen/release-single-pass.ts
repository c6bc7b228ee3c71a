/**
 * release-single-pass (drivers/iommu/iommufd/main.c iommufd_fops_release).
 *
 * The objects of a context form a graph of "users" counts (a HWPT holds its
 * IOAS, a device or a mock-domain selftest object holds its HWPT, …), so
 * closing /dev/iommu destroys them depth first, repeating passes until the
 * table is empty:
 *     while (!xa_empty(&ictx->objects)) {
 *             unsigned int destroyed = 0;
 *             xa_for_each(&ictx->objects, index, obj) {
 *                     if (!refcount_dec_if_one(&obj->users))
 *                             continue;
 *                     destroyed++;
 *                     xa_erase(&ictx->objects, index);
 *                     iommufd_object_ops[obj->type].destroy(obj);
 *                     kfree(obj);
 *             }
 *             if (WARN_ON(!destroyed))
 *                     break;
 *     }
 * The fault is a loop restructuring (of the kind the tombstone rework did to
 * this loop) that leaves a single xa_for_each pass: every object that is a
 * leaf when the pass reaches it is destroyed, but an interior object whose
 * last user goes away later in the same pass (its holder has a higher id) is
 * skipped, and the context is freed with it still in the table. An IOAS is
 * skipped that way whenever a HWPT still sits on it at close; a HWPT is
 * skipped when a device attached to it has a higher id than the HWPT (a mock
 * domain created after IOMMU_HWPT_ALLOC and attached to it; a VFIO cdev
 * device holds the context itself, so it is unbound before the release).
 *
 * Consequence: closing /dev/iommu leaks those objects for good. A skipped IOAS
 * alone holds no pins once its domains are gone, but a skipped HWPT keeps its
 * domain in the IOAS, and the domain keeps every area pinned: pin counts,
 * mm->pinned_vm and the user's RLIMIT_MEMLOCK charge never come back, and no
 * fd or id is left to release them. Minimal case: IOAS + MAP, MOCK_DOMAIN
 * (auto HWPT), IOMMU_HWPT_ALLOC on that device and IOAS, a second
 * MOCK_DOMAIN whose id is that HWPT, close.
 *
 * Applied as: the file's release op is replaced by that single pass (the
 * objects it skips are dropped with the context, never destroyed).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdCtx } from '../../../impl/iommufd/iommufd_private.ts';
import type { KFile, KFileOps } from '../../../impl/process/file.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** iommufd_fops_release with one xa_for_each pass. */
function releaseOnePass(ctx: IommufdCtx): void {
  for (const [id, obj] of ctx.objects.entries()) {
    // xa_for_each sees the live table: an object another destroy already erased is not visited.
    if (ctx.objects.load(id) !== obj) continue;
    if (obj.users !== 1) continue;
    obj.users = 0;
    ctx.objects.erase(id);
    obj.destroy();
  }
  // THE FAULT: no further passes; whatever is left is freed with the context (kfree(ictx)).
  ctx.vfioIoas = null;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('release-single-pass', profile, {
    ctx: (ctx) => {
      const file = ctx.file;
      if (!file) return;
      patchOwn(file as KFile, 'ops', (ops: KFileOps): KFileOps => ({ ...ops, release: () => releaseOnePass(ctx) }));
    },
  });
}
