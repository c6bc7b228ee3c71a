/**
 * kvm-coherency-before-list-add (virt/kvm/vfio.c kvm_vfio_file_add).
 *
 * Registering a VFIO file with the kvm-vfio device adds it to kv->file_list
 * and then re-derives whether the VM has non-coherent DMA (WBINVD must be
 * emulated) from the whole list:
 *
 *     kvf->file = get_file(filp);
 *     list_add_tail(&kvf->node, &kv->file_list);
 *     kvm_arch_start_assignment(dev->kvm);
 *     kvm_vfio_file_set_kvm(kvf->file, dev->kvm);
 *     kvm_vfio_update_coherency(dev);
 *
 * The fault moves kvm_vfio_update_coherency() above the list_add_tail (it
 * was hoisted next to the EEXIST walk of the list, "while we hold the
 * lock"): the re-derivation sees the list without the file being added. The
 * state is recomputed correctly only by the next KVM_DEV_VFIO_FILE_ADD or
 * _DEL — of any file — or never, if none follows.
 *
 * Consequence: registering a device whose IOMMU cannot enforce cache
 * coherency (vtd1, a non-CANWBS SMMU master, a mock device) with a VM that
 * had only coherent devices (or none) leaves
 * kvm_arch_has_noncoherent_dma() false: KVM keeps treating the guest's
 * WBINVD as a no-op while the device does no-snoop DMA, so the guest cannot
 * flush what the device reads or writes (stale data reaches the device or
 * the guest). Symmetrically, adding a coherent file right after deleting the
 * last non-coherent one keeps WBINVD emulation on (a slowdown only).
 *
 * Applied as: after the reference's kvm_vfio_file_add succeeded, the VM's
 * coherency state (kv->noncoherent and the arch non-coherent count) is put
 * back to what the update computes over the list without the new file.
 */
import type { Implementation, Profile, Response } from '../../../spec/contract/types.ts';
import { KvmVm } from '../../../impl/kvm/index.ts';
import { vfioFileEnforcedCoherent, VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('kvm-coherency-before-list-add', profile, {
    request: (req, next, env) => {
      const res = next(req) as Response;
      if (req.op !== 'kvm_vfio_add' || !res.ok) return res;
      const r = res.result as { ret: number; errno: number };
      if (r.errno) return res;
      const file = env.proc.fds.lookup(req.fd);
      const df = file?.private_data;
      if (!(df instanceof VfioDeviceFile) || !(df.kvm instanceof KvmVm) || df.kvm.id !== req.vm) return res;
      const kvm = df.kvm;
      const list = kvm.vfio.fileList;
      if (list[list.length - 1]?.file !== file) return res;
      // THE FAULT: kvm_vfio_update_coherency() ran before list_add_tail(): it saw the list without this file.
      const noncoherent = list.slice(0, -1).some((kvf) => !vfioFileEnforcedCoherent(kvf.file));
      if (noncoherent !== kvm.vfio.noncoherent) {
        kvm.vfio.noncoherent = noncoherent;
        if (noncoherent) kvm.noncoherentDmaCount++;
        else kvm.noncoherentDmaCount--;
      }
      return res;
    },
  });
}
