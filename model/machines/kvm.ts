/**
 * The KVM coherency contract of one VM (seed 002): the kvm-vfio pseudo-device
 * holds the VFIO files registered with it and KVM emulates WBINVD
 * (kvm_arch_register_noncoherent_dma) exactly while one of them belongs to a
 * device whose IOMMU cannot enforce cache coherency — re-derived on every add,
 * delete and release, an ongoing proof rather than a one-shot grant.
 * virt/kvm/vfio.c (kvm_vfio_file_add, kvm_vfio_file_del,
 * kvm_vfio_update_coherency, kvm_vfio_release), drivers/vfio/vfio_main.c
 * (vfio_file_enforced_coherent).
 */
import { defineObjectMachine, type EventOf } from '../core/define.ts';

export interface KvmContext {
  /** Registered VFIO files. */
  readonly files: number;
  /** Registered files whose device is not enforced-coherent. */
  readonly noncoherent: number;
}

export type KvmEvent =
  | { readonly type: 'kvm_create' }
  /** vfio: the fd is a VFIO file; registered: already registered; coherent: its device's IOMMU enforces coherency. */
  | { readonly type: 'kvm_vfio_add'; readonly vfio: boolean; readonly registered: boolean; readonly coherent: boolean }
  | { readonly type: 'kvm_vfio_del'; readonly registered: boolean; readonly coherent: boolean }
  | { readonly type: 'kvm_destroy' };

type E<T extends KvmEvent['type']> = EventOf<KvmEvent, T>;

export const kvm = defineObjectMachine<KvmContext, KvmEvent>({
  id: 'kvm',
  title: 'KVM coherency',
  kernel: 'struct kvm_vfio (the kvm-vfio device) and kvm_arch_has_noncoherent_dma',
  description:
    'The three states of seed 002: no VFIO file registered; only files of devices whose IOMMU enforces cache coherency (no WBINVD emulation needed); a file of a device that cannot be forced to snoop (WBINVD emulated). Each add, delete and the release of the VM re-derives the state from the whole registered list. Adding a file that is not a VFIO file is EINVAL, adding one twice EEXIST, deleting one that is not registered ENOENT. The device holds every registered file until it is deleted or the VM is released.',
  context: { files: 0, noncoherent: 0 },
  events: ['kvm_create', 'kvm_vfio_add', 'kvm_vfio_del', 'kvm_destroy'],
  guards: {
    notVfioFile: { fn: (_c, e) => !(e as E<'kvm_vfio_add'>).vfio, doc: 'the fd is not a VFIO group or device file', clauses: ['KVM.FILE_ADD_ERRNO'] },
    alreadyRegistered: { fn: (_c, e) => (e as E<'kvm_vfio_add'>).registered, doc: 'the file is already registered', clauses: ['KVM.FILE_ADD_ERRNO'] },
    notRegistered: { fn: (_c, e) => !(e as E<'kvm_vfio_del'>).registered, doc: 'the file is not registered', clauses: ['KVM.FILE_DEL_ERRNO'] },
    addsNoncoherent: { fn: (_c, e) => !(e as E<'kvm_vfio_add'>).coherent, doc: 'the device cannot be forced to snoop', clauses: ['KVM.NONCOHERENT_IFF'] },
    hasNoncoherent: { fn: (c) => c.noncoherent > 0, doc: 'a non-coherent file is already registered', clauses: ['KVM.REDERIVED'] },
    leavesNone: { fn: (c) => c.files === 1, doc: 'the deleted file was the only one', clauses: ['KVM.REDERIVED'] },
    leavesNoncoherent: {
      fn: (c, e) => c.noncoherent - ((e as E<'kvm_vfio_del'>).coherent ? 0 : 1) > 0,
      doc: 'a non-coherent file stays registered',
      clauses: ['KVM.REDERIVED'],
    },
  },
  actions: {
    add: (c, e) => ({ files: c.files + 1, noncoherent: c.noncoherent + ((e as E<'kvm_vfio_add'>).coherent ? 0 : 1) }),
    del: (c, e) => ({ files: c.files - 1, noncoherent: c.noncoherent - ((e as E<'kvm_vfio_del'>).coherent ? 0 : 1) }),
    clear: () => ({ files: 0, noncoherent: 0 }),
  },
  initial: 'absent',
  states: {
    absent: { on: { kvm_create: { target: 'live', meta: { clauses: ['KVM.NONCOHERENT_IFF'] } } } },
    live: {
      initial: 'none',
      on: {
        kvm_vfio_add: [
          { guard: 'notVfioFile', meta: { refuse: 'EINVAL', clauses: ['KVM.FILE_ADD_ERRNO'] } },
          { guard: 'alreadyRegistered', meta: { refuse: 'EEXIST', clauses: ['KVM.FILE_ADD_ERRNO'] } },
          { guard: 'addsNoncoherent', target: '.noncoherent', actions: 'add', meta: { clauses: ['KVM.NONCOHERENT_IFF', 'KVM.HOLDS_FILE'] } },
          // virt/kvm/vfio.c kvm_vfio_update_coherency re-derives from every registered file: a coherent add keeps a non-coherent VM non-coherent.
          { guard: 'hasNoncoherent', target: '.noncoherent', actions: 'add', meta: { clauses: ['KVM.NONCOHERENT_IFF', 'KVM.REDERIVED', 'KVM.HOLDS_FILE'] } },
          { target: '.coherent', actions: 'add', meta: { clauses: ['KVM.NONCOHERENT_IFF', 'KVM.HOLDS_FILE'] } },
        ],
        kvm_vfio_del: [
          { guard: 'notRegistered', meta: { refuse: 'ENOENT', clauses: ['KVM.FILE_DEL_ERRNO'] } },
          { guard: 'leavesNone', target: '.none', actions: 'del', meta: { clauses: ['KVM.REDERIVED'] } },
          { guard: 'leavesNoncoherent', target: '.noncoherent', actions: 'del', meta: { clauses: ['KVM.REDERIVED'] } },
          { target: '.coherent', actions: 'del', meta: { clauses: ['KVM.REDERIVED'] } },
        ],
        kvm_destroy: { target: 'destroyed', actions: 'clear', meta: { clauses: ['KVM.RELEASE_DROPS_FILES'] } },
      },
      states: {
        none: { description: 'no VFIO file registered' },
        coherent: { description: 'only files of enforced-coherent devices: no WBINVD emulation' },
        noncoherent: { description: 'a file of a device that may do non-coherent DMA: WBINVD emulated' },
      },
    },
    destroyed: { type: 'final', description: 'the VM is released, and with it every registered file' },
  },
});
