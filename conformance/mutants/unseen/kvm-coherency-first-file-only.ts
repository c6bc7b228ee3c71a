/**
 * H8.1 — kvm-coherency-first-file-only (virt/kvm/vfio.c kvm_vfio_update_coherency).
 *
 * kvm-vfio re-derives, on every FILE_ADD and FILE_DEL, whether the VM has
 * non-coherent DMA: it walks the whole file list and stops at the first file
 * whose device cannot enforce cache coherency:
 *     list_for_each_entry(kvf, &kv->file_list, node) {
 *             if (!kvm_vfio_file_enforced_coherent(kvf->file)) {
 *                     noncoherent = true;
 *                     break;
 *             }
 *     }
 * The fault moves the break out of the if (a "cleanup" that keeps the early
 * exit but loses its condition): the loop looks at the first registered file
 * only, so the answer is that file's coherency, whatever the others are.
 *
 * Consequence: a VM whose first registered device is coherent (an IOMMU with
 * snoop control / FC) never gets kvm_arch_register_noncoherent_dma for a
 * non-coherent device registered after it: KVM does not emulate WBINVD and
 * honours guest PAT as if every DMA snooped, so a guest's cache maintenance
 * does not reach what the non-snooping device wrote (and the other way, once
 * the non-coherent device is the head of the list, a later delete of it can
 * leave the state on while only coherent devices remain, or drop it while a
 * non-coherent one is still registered behind a coherent head).
 *
 * Applied as: after each KVM_DEV_VFIO_FILE_ADD / _DEL the reference handles,
 * the VM's kv->noncoherent and noncoherent_dma_count are moved to what the
 * first-file-only derivation gives (the VM is reached through the added
 * file's kvm pointer).
 */
import { EBADF } from '../../../impl/lib/errno.ts';
import type { KvmVm } from '../../../impl/kvm/index.ts';
import { vfioFileEnforcedCoherent, type VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  const vms = new Map<number, KvmVm>();
  return mutantImplementation('kvm-coherency-first-file-only', profile, {
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
      // THE FAULT: the break is taken on the first file, coherent or not.
      const head = kv.fileList[0];
      const noncoherent = head !== undefined && !vfioFileEnforcedCoherent(head.file);
      if (noncoherent !== kv.noncoherent) {
        kv.noncoherent = noncoherent;
        if (noncoherent) kvm.noncoherentDmaCount++;
        else kvm.noncoherentDmaCount--;
      }
      return res;
    },
  });
}
