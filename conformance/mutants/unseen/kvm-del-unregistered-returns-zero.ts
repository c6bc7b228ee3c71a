/**
 * kvm-del-unregistered-returns-zero (virt/kvm/vfio.c kvm_vfio_file_del).
 *
 * KVM_DEV_VFIO_FILE_DEL of a file that was never added (or was already
 * deleted) is ENOENT:
 *     guard(mutex)(&kv->lock);
 *     list_for_each_entry(kvf, &kv->file_list, node) {
 *             if (kvf->file == fd_file(f)) {
 *                     kvm_vfio_file_free(dev, kvf);
 *                     kvm_vfio_update_coherency(dev);
 *                     return 0;
 *             }
 *     }
 *     return -ENOENT;
 * (6.12: `ret = -ENOENT;` before the loop, `ret = 0` on a match.) The fault is
 * the 6.12 shape with `int ret = 0;` (the -ENOENT initialisation dropped in a
 * guard()/cleanup conversion): a delete that matched nothing answers success.
 *
 * What a user sees: FILE_DEL of an fd that is not registered (a non-VFIO fd
 * that resolves, a VFIO file never added, a second delete of the same file)
 * returns 0 instead of ENOENT; the VMM believes it removed a registration it
 * never had (e.g. after losing a race with the file's release), and its
 * bookkeeping of which files keep the VM's non-coherent-DMA state diverges.
 *
 * Applied as: after the reference handles kvm_vfio_del, an ENOENT answer is
 * turned into 0 (EBADF, the unknown-fd case, is left alone). Both profiles.
 */
import { ENOENT } from '../../../impl/lib/errno.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('kvm-del-unregistered-returns-zero', profile, {
    request: (req, next) => {
      const res = next(req);
      if (req.op !== 'kvm_vfio_del' || !res.ok) return res;
      const r = res.result as { ret: number; errno: number };
      // THE FAULT: ret starts at 0, so "no match" falls out as success.
      if (r.errno === ENOENT) return { ...res, result: { ret: 0, errno: 0 } } as typeof res;
      return res;
    },
  });
}
