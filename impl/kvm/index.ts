/**
 * A simulated KVM VM with its kvm-vfio pseudo device. Mirrors virt/kvm/vfio.c:
 * kvm_vfio_file_add (KVM_DEV_VFIO_FILE_ADD), kvm_vfio_file_del
 * (KVM_DEV_VFIO_FILE_DEL), kvm_vfio_release, kvm_vfio_update_coherency, and
 * x86's kvm_arch_{register,unregister,has}_noncoherent_dma.
 *
 * The kvm-vfio device holds a reference on every registered VFIO file, so a
 * registered device stays bound (its file is not released) even after the
 * user closes the fd. Whether WBINVD must be emulated (non-coherent DMA) is
 * re-derived from the whole list on every add, delete and release: it is true
 * iff some registered device's IOMMU cannot enforce cache coherency — seed
 * 002's boxes 3 and 4, decided by the device capability, not by its current
 * attachment.
 *
 * Every VM has exactly one kvm-vfio device (created with the VM here; KVM
 * allows only one per VM).
 *
 * Public: kvmCreate(proc) -> vm, kvmDestroy(proc, vm) -> errno (ENOENT unknown vm),
 * kvmVfioAdd(proc, vm, fd) -> errno, kvmVfioDel(proc, vm, fd) -> errno,
 * kvmState(proc, vm) -> { noncoherentDma, registeredFds } | undefined, kvmExists(proc, vm),
 * kvmDestroyAll(proc) (process exit: every VM released, lowest id first).
 */
import { EBADF, EEXIST, EINVAL, ENOENT, ENOMEM } from '../lib/errno.ts';
import type { KFile } from '../process/file.ts';
import type { Process } from '../process/process.ts';
import { vfioFileEnforcedCoherent, vfioFileIsValid, vfioFileSetKvm } from '../iommufd/vfio_cdev.ts';
import { Unwind } from '../lib/unwind.ts';

interface KvmVfioFile {
  readonly file: KFile;
  /** The fd it was registered through (reported by kvm_state). */
  readonly fd: number;
}

/** struct kvm_vfio */
class KvmVfio {
  readonly fileList: KvmVfioFile[] = [];
  noncoherent = false;
}

/** struct kvm (the parts kvm-vfio touches). */
export class KvmVm {
  /** kvm->arch.noncoherent_dma_count */
  noncoherentDmaCount = 0;
  /** kvm->arch.assigned_device_count */
  assignedDeviceCount = 0;
  readonly vfio = new KvmVfio();
  constructor(readonly id: number) {}
}

const vms = new WeakMap<Process, Map<number, KvmVm>>();

function vmTable(proc: Process): Map<number, KvmVm> {
  let t = vms.get(proc);
  if (!t) {
    t = new Map();
    vms.set(proc, t);
  }
  return t;
}

export function kvmCreate(proc: Process): number {
  const t = vmTable(proc);
  let id = 1;
  while (t.has(id)) id++;
  t.set(id, new KvmVm(id));
  return id;
}

export function kvmExists(proc: Process, vm: number): boolean {
  return vmTable(proc).has(vm);
}

/** kvm_arch_has_noncoherent_dma */
function kvmArchHasNoncoherentDma(kvm: KvmVm): boolean {
  return kvm.noncoherentDmaCount > 0;
}

/**
 * kvm_vfio_update_coherency: re-test every registered file; stop at the first
 * non-coherent one; (un)register non-coherent DMA only on a change.
 */
function kvmVfioUpdateCoherency(kvm: KvmVm): void {
  const kv = kvm.vfio;
  const noncoherent = kv.fileList.some((kvf) => !vfioFileEnforcedCoherent(kvf.file));
  if (noncoherent !== kv.noncoherent) {
    kv.noncoherent = noncoherent;
    if (noncoherent) kvm.noncoherentDmaCount++;
    else kvm.noncoherentDmaCount--;
  }
}

/** kvm_vfio_file_add: EBADF (no such fd), EINVAL (not a VFIO file), EEXIST (already registered). */
export function kvmVfioAdd(proc: Process, vm: number, fd: number): number {
  const kvm = vmTable(proc).get(vm);
  if (!kvm) return -ENOENT;
  const filp = proc.fds.fget(fd);
  if (!filp) return -EBADF;
  const unwind = new Unwind();
  unwind.always('out_fput', () => filp.put()); // the lookup reference
  // Only allow the vfio group/device files (kvm_vfio_file_is_valid).
  if (!vfioFileIsValid(filp)) return unwind.exit(-EINVAL);
  if (kvm.vfio.fileList.some((kvf) => kvf.file === filp)) return unwind.exit(-EEXIST);
  if (proc.faults.shouldFail()) return unwind.exit(-ENOMEM); // kzalloc(kvf)
  kvm.vfio.fileList.push({ file: filp.get(), fd });
  kvm.assignedDeviceCount++; // kvm_arch_start_assignment
  vfioFileSetKvm(filp, kvm);
  kvmVfioUpdateCoherency(kvm);
  return unwind.exit(0);
}

/** kvm_vfio_file_del: EBADF (no such fd), ENOENT (not registered); coherency re-derived either way. */
export function kvmVfioDel(proc: Process, vm: number, fd: number): number {
  const kvm = vmTable(proc).get(vm);
  if (!kvm) return -ENOENT;
  const f = proc.fds.lookup(fd);
  if (!f) return -EBADF;
  let ret: number = -ENOENT;
  const i = kvm.vfio.fileList.findIndex((kvf) => kvf.file === f);
  if (i >= 0) {
    const [kvf] = kvm.vfio.fileList.splice(i, 1);
    kvm.assignedDeviceCount--; // kvm_arch_end_assignment
    vfioFileSetKvm(kvf!.file, null);
    kvf!.file.put();
    ret = 0;
  }
  kvmVfioUpdateCoherency(kvm);
  return ret;
}

/** kvm_vfio_release (VM destroyed): drop every file reference, then re-derive. */
export function kvmDestroy(proc: Process, vm: number): number {
  const t = vmTable(proc);
  const kvm = t.get(vm);
  if (!kvm) return -ENOENT;
  for (const kvf of kvm.vfio.fileList.splice(0)) {
    vfioFileSetKvm(kvf.file, null);
    kvf.file.put();
    kvm.assignedDeviceCount--;
  }
  kvmVfioUpdateCoherency(kvm);
  t.delete(vm);
  return 0;
}

export function kvmState(proc: Process, vm: number): { noncoherentDma: boolean; registeredFds: number[] } | undefined {
  const kvm = vmTable(proc).get(vm);
  if (!kvm) return undefined;
  return { noncoherentDma: kvmArchHasNoncoherentDma(kvm), registeredFds: kvm.vfio.fileList.map((kvf) => kvf.fd) };
}

/** Process exit: every VM is destroyed (kvm_vfio_release drops each held VFIO file). */
export function kvmDestroyAll(proc: Process): void {
  for (const vm of [...vmTable(proc).keys()].sort((a, b) => a - b)) kvmDestroy(proc, vm);
}
