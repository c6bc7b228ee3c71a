/**
 * The KVM coherency contract (seed 002): virt/kvm/vfio.c and
 * drivers/vfio/vfio_main.c (vfio_file_enforced_coherent).
 */
import { BOTH, type Clause } from './types.ts';

const KVM = 'virt/kvm/vfio.c';

export const clauses: Clause[] = [
  {
    id: 'KVM.NONCOHERENT_IFF',
    kind: 'security',
    statement: 'KVM emulates WBINVD (non-coherent DMA registered) iff some VFIO file registered with the kvm-vfio device belongs to a device whose IOMMU cannot enforce cache coherency — boxes 3 and 4 of the no-snoop matrix, whatever the device’s no-snoop use or its current attachment. A new VM, with nothing registered, does not (x86\u2019s noncoherent_dma_count starts at 0).',
    source: { file: KVM, function: 'kvm_vfio_update_coherency' },
    profiles: BOTH,
    checks: ['ref.kvm.coherency-matrix', 'ref.kvm.noncoherent-rederived', 'suite.invariants.new-vm-is-coherent', 'mutants.lies.held-caught'],
  },
  {
    id: 'KVM.REDERIVED',
    kind: 'security',
    statement: 'The answer is re-derived from the whole registered list on every add, delete and release of the kvm-vfio device (an ongoing proof, not one-shot).',
    source: { file: KVM, function: 'kvm_vfio_update_coherency' },
    profiles: BOTH,
    checks: ['ref.kvm.noncoherent-rederived'],
  },
  {
    id: 'KVM.HOLDS_FILE',
    decides: [],
    events: ['kvm_vfio_add',  'close'],
    kind: 'lifecycle',
    statement: 'The kvm-vfio device holds a reference on every registered file: closing the fd does not unbind the device, and the device cannot go away until it is deleted or the VM is released.',
    source: { file: KVM, function: 'kvm_vfio_file_add' },
    profiles: BOTH,
    checks: ['ref.kvm.holds-device-file', 'ref.adapter.device-dma-kvm'],
  },
  {
    id: 'KVM.FILE_ADD_ERRNO',
    decides: ['EBADF',  'EINVAL',  'EEXIST'],
    events: ['kvm_vfio_add'],
    kind: 'errno',
    statement: 'KVM_DEV_VFIO_FILE_ADD: an fd that is not open fails with EBADF, a file that is not a VFIO file with EINVAL, an already registered file with EEXIST.',
    source: { file: KVM, function: 'kvm_vfio_file_add' },
    profiles: BOTH,
    errno: 'EBADF',
    checks: ['ref.kvm.errno', 'suite.invariants.kvm-takes-vfio-files-only'],
  },
  {
    id: 'KVM.FILE_DEL_ERRNO',
    decides: ['EBADF',  'ENOENT'],
    events: ['kvm_vfio_del'],
    kind: 'errno',
    statement: 'KVM_DEV_VFIO_FILE_DEL: an fd that is not open fails with EBADF, a file that is not registered with ENOENT.',
    source: { file: KVM, function: 'kvm_vfio_file_del' },
    profiles: BOTH,
    errno: 'ENOENT',
    checks: ['ref.kvm.errno', 'suite.invariants.kvm-del-unregistered'],
  },
  {
    id: 'KVM.RELEASE_DROPS_FILES',
    decides: [],
    events: ['kvm_destroy'],
    kind: 'lifecycle',
    statement:
      'Releasing the VM (kvm_vfio_release) drops its reference on every registered VFIO device file, so a device whose fd is closed is then released: unbound, its iommufd context freed and every page it pinned through the IOAS unpinned.',
    source: { file: KVM, function: 'kvm_vfio_release' },
    profiles: BOTH,
    checks: ['ref.adapter.close-releases-kvm-held-devices', 'suite.invariants.rebind-after-closing'],
  },
];
