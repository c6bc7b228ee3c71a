/**
 * Round 7b fault (virt/kvm/vfio.c kvm_vfio_update_coherency; x86
 * kvm_arch_{register,unregister}_noncoherent_dma).
 *
 * kvm-vfio keeps one bit per VM, kv->noncoherent, and touches KVM's
 * noncoherent_dma_count only when the derived answer changes:
 *     if (noncoherent != kv->noncoherent) {
 *             kv->noncoherent = noncoherent;
 *             if (kv->noncoherent)
 *                     kvm_arch_register_noncoherent_dma(dev->kvm);
 *             else
 *                     kvm_arch_unregister_noncoherent_dma(dev->kvm);
 *     }
 * The fault drops the transition test (a "simplification": register when
 * non-coherent, unregister when not), so every re-derivation moves the
 * counter, which is an atomic_t that nothing clamps: each FILE_ADD or
 * FILE_DEL (also a failed DEL) while the answer stays "coherent" decrements
 * it, each one while it stays "non-coherent" increments it.
 *
 * Consequence: registering a coherent device (or a FILE_DEL of an
 * unregistered fd) first drives the count to -1; when a device whose IOMMU
 * cannot enforce coherency is added next, the count only returns to 0 and
 * kvm_arch_has_noncoherent_dma() is false: KVM does not emulate WBINVD (and
 * keeps honouring guest PAT as if all DMA snooped) for a VM with non-snooped
 * DMA, so the guest's cache flushes do not reach what the device wrote. In
 * the other direction (adds and dels while a non-coherent device stays), the
 * count never returns to 0 after that device leaves.
 *
 * Applied as: around each KVM_DEV_VFIO_FILE_ADD / _DEL the reference
 * handles, the register/unregister it skipped because the answer did not
 * change is applied to the VM's noncoherent DMA count (the VM is reached
 * through the VFIO file's kvm pointer; a count moved before the first
 * successful add is applied at that add).
 */
import { EBADF } from '../../../impl/lib/errno.ts';
import type { KvmVm } from '../../../impl/kvm/index.ts';
import type { VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  const vms = new Map<number, KvmVm>();
  /** Count moves of a VM not reached yet (no file ever registered). */
  const pending = new Map<number, number>();
  return mutantImplementation('kvm-noncoherent-count-unbalanced', profile, {
    request: (req, next, env) => {
      if (req.op === 'reset') {
        vms.clear();
        pending.clear();
        return next(req);
      }
      if (req.op === 'kvm_create' || req.op === 'kvm_destroy') {
        const res = next(req);
        const vm = req.op === 'kvm_destroy' ? req.vm : res.ok ? (res.result as { vm: number }).vm : -1;
        vms.delete(vm);
        pending.delete(vm);
        return res;
      }
      if (req.op !== 'kvm_vfio_add' && req.op !== 'kvm_vfio_del') return next(req);
      const known = vms.get(req.vm);
      const before = known ? known.vfio.noncoherent : false;
      const file = env.proc.fds.lookup(req.fd);
      const res = next(req);
      if (!res.ok) return res;
      const errno = (res.result as { errno: number }).errno;
      const updated = req.op === 'kvm_vfio_add' ? errno === 0 : errno !== EBADF;
      if (!updated) return res;
      let kvm = known;
      if (!kvm && req.op === 'kvm_vfio_add' && file) {
        kvm = (file.private_data as VfioDeviceFile).kvm as KvmVm;
        vms.set(req.vm, kvm);
      }
      const after = kvm ? kvm.vfio.noncoherent : false;
      // THE FAULT: no "noncoherent != kv->noncoherent" test: an unchanged answer still (un)registers.
      const skipped = after === before ? (after ? 1 : -1) : 0;
      const owed = (pending.get(req.vm) ?? 0) + skipped;
      if (kvm) {
        kvm.noncoherentDmaCount += owed;
        pending.delete(req.vm);
      } else {
        pending.set(req.vm, owed);
      }
      return res;
    },
  });
}
