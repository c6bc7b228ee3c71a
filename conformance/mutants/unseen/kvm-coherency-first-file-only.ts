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
import { vfioFileEnforcedCoherent } from '../../../impl/iommufd/vfio_cdev.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { coherencyRederivedWith } from './_kvm_coherency.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: the break is taken on the first file, coherent or not.
  return coherencyRederivedWith('kvm-coherency-first-file-only', profile, (files) => files[0] !== undefined && !vfioFileEnforcedCoherent(files[0].file));
}
