/**
 * Round 5a fault (kvm-vfio, file lifetime): virt/kvm/vfio.c
 * kvm_vfio_file_add's duplicate check leaves through the wrong label: the
 * EEXIST branch returns after mutex_unlock but before `out_fput`, so the
 * reference fget() took on the VFIO file is never dropped (the 6.12 goto
 * ladder: `ret = -EEXIST; goto out_unlock;` with a `return ret;` slipped in
 * above `out_fput:`, or a conversion to __free(fput) that assigned the
 * cleanup to the wrong variable).
 *
 * Consequence: every KVM_DEV_VFIO_FILE_ADD of an already registered VFIO
 * device file (which QEMU does on hot-plug retries) leaks one file reference.
 * After KVM_DEV_VFIO_FILE_DEL, kvm_vfio_release and close(fd), the device
 * file is never released: the device stays bound to its iommufd and
 * attached (its group keeps the DMA ownership and the domain, so another
 * context gets EPERM and the device keeps DMA access to the IOAS), and the
 * iommufd context the bind holds is never freed either, so every page its
 * IOASes pinned stays pinned and charged after the process closed them all.
 *
 * Applied as: after the reference answers EEXIST to kvm_vfio_add, one more
 * reference is taken on the file behind the fd (the leaked fget).
 */
import { EEXIST } from '../../../impl/lib/errno.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';


export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('kvm-add-eexist-leaks-file', profile, {
    request: (req, next, env) => {
      if (req.op !== 'kvm_vfio_add') return next(req);
      const file = env.proc.fds.lookup(req.fd);
      const res = next(req);
      const r = res.ok ? (res.result as { errno?: number }) : undefined;
      if (file && r?.errno === EEXIST) file.get(); // the fget() that out_fput never drops
      return res;
    },
  });
}
