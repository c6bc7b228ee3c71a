/**
 * Shared by the faults that change how kvm_vfio_update_coherency (virt/kvm/vfio.c)
 * derives a VM's non-coherent DMA from its registered files: after every
 * KVM_DEV_VFIO_FILE_ADD that registered a file, and every FILE_DEL whose fd
 * resolved, the VM's answer is derived again with `noncoherentOf` and, when
 * it changed, kvm_arch_(un)register_noncoherent_dma moves the count. With the
 * kernel's derivation (any file that is not enforced-coherent) it answers as
 * the reference does.
 */
import { EBADF } from '../../../impl/lib/errno.ts';
import type { KvmVm } from '../../../impl/kvm/index.ts';
import type { VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

type KvmVfioFile = KvmVm['vfio']['fileList'][number];

/** Whether a VM with these files registered may issue non-coherent DMA. */
export type NoncoherentOf = (files: readonly KvmVfioFile[]) => boolean;

/** The reference with kvm_vfio_update_coherency's derivation replaced by `noncoherentOf`. */
export function coherencyRederivedWith(name: string, profile: Profile, noncoherentOf: NoncoherentOf): Implementation {
  const vms = new Map<number, KvmVm>();
  return mutantImplementation(name, profile, {
    request: (req, next, env) => {
      if (req.op === 'reset') {
        vms.clear();
        return next(req);
      }
      if (req.op === 'kvm_create' || req.op === 'kvm_destroy') {
        const res = next(req);
        const vm = req.op === 'kvm_destroy' ? req.vm : res.ok ? (res.result as { vm: number }).vm : -1;
        vms.delete(vm);
        return res;
      }
      if (req.op !== 'kvm_vfio_add' && req.op !== 'kvm_vfio_del') return next(req);
      const file = env.proc.fds.lookup(req.fd);
      const res = next(req);
      if (!res.ok) return res;
      const errno = (res.result as { errno: number }).errno;
      // FILE_ADD re-derives only when it registered the file; FILE_DEL whenever the fd resolved.
      const updated = req.op === 'kvm_vfio_add' ? errno === 0 : errno !== EBADF;
      if (!updated) return res;
      let kvm = vms.get(req.vm);
      if (!kvm && req.op === 'kvm_vfio_add' && file) {
        kvm = (file.private_data as VfioDeviceFile).kvm as KvmVm;
        if (kvm) vms.set(req.vm, kvm);
      }
      if (!kvm) return res;
      const kv = kvm.vfio;
      const noncoherent = noncoherentOf(kv.fileList);
      if (noncoherent !== kv.noncoherent) {
        kv.noncoherent = noncoherent;
        if (noncoherent) kvm.noncoherentDmaCount++;
        else kvm.noncoherentDmaCount--;
      }
      return res;
    },
  });
}
