/**
 * C8.5 — kvm-coherency-needs-all-noncoherent (virt/kvm/vfio.c
 * kvm_vfio_update_coherency).
 *
 * A VM must emulate WBINVD as soon as one of its VFIO files' devices cannot
 * enforce cache coherency:
 *     bool noncoherent = false;
 *     list_for_each_entry(kvf, &kv->file_list, node) {
 *             if (!kvm_vfio_file_enforced_coherent(kvf->file)) {
 *                     noncoherent = true;
 *                     break;
 *             }
 *     }
 * The fault inverts the search (a refactor that "stops at the first
 * coherent file"):
 *     bool noncoherent = !list_empty(&kv->file_list);
 *     list_for_each_entry(...)
 *             if (kvm_vfio_file_enforced_coherent(kvf->file)) {
 *                     noncoherent = false;
 *                     break;
 *             }
 * so the VM is treated as non-coherent only when every registered device
 * is. A VM with one coherent and one non-coherent device registers no
 * non-coherent DMA: KVM turns the guest's WBINVD into a no-op while the
 * non-coherent device reads memory the guest believes it has flushed (and
 * the noncoherent_dma_count moves with the wrong answer on every change).
 *
 * Applied as: the mutant keeps its own kvm_vfio file lists (as KVM_DEV_VFIO_FILE
 * ADD/DEL succeed) and its own noncoherent/noncoherent_dma_count derived with
 * the faulty search at each update, and kvm_state answers from them.
 */
import type { Implementation, Profile, Response } from '../../../spec/contract/types.ts';
import type { KFile } from '../../../impl/process/file.ts';
import type { Process } from '../../../impl/process/process.ts';
import { vfioFileEnforcedCoherent } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

interface FaultyKvmVfio {
  readonly files: KFile[];
  noncoherent: boolean;
  noncoherentDmaCount: number;
}

export function createAdapter(profile: Profile): Implementation {
  const vms = new WeakMap<Process, Map<number, FaultyKvmVfio>>();
  const table = (proc: Process): Map<number, FaultyKvmVfio> => {
    let t = vms.get(proc);
    if (!t) vms.set(proc, (t = new Map()));
    return t;
  };
  const stateOf = (proc: Process, vm: number): FaultyKvmVfio => {
    const t = table(proc);
    let s = t.get(vm);
    if (!s) t.set(vm, (s = { files: [], noncoherent: false, noncoherentDmaCount: 0 }));
    return s;
  };
  /** kvm_vfio_update_coherency with the inverted search. */
  const update = (s: FaultyKvmVfio): void => {
    let noncoherent = s.files.length > 0;
    for (const f of s.files) {
      if (vfioFileEnforcedCoherent(f)) {
        noncoherent = false;
        break;
      }
    }
    if (noncoherent !== s.noncoherent) {
      s.noncoherent = noncoherent;
      s.noncoherentDmaCount += noncoherent ? 1 : -1;
    }
  };
  const succeeded = (res: Response): boolean => res.ok && (res.result as { errno?: number }).errno === 0;

  return mutantImplementation('kvm-coherency-needs-all-noncoherent', profile, {
    request: (req, next, env) => {
      const proc = env.proc;
      switch (req.op) {
        case 'kvm_vfio_add': {
          const file = proc.fds.lookup(req.fd);
          const res = next(req);
          if (file && succeeded(res)) {
            const s = stateOf(proc, req.vm);
            s.files.push(file);
            update(s);
          }
          return res;
        }
        case 'kvm_vfio_del': {
          const file = proc.fds.lookup(req.fd);
          const res = next(req);
          if (res.ok) {
            const s = stateOf(proc, req.vm);
            if (file && succeeded(res)) s.files.splice(s.files.indexOf(file), 1);
            update(s);
          }
          return res;
        }
        case 'kvm_destroy': {
          const res = next(req);
          if (res.ok) table(proc).delete(req.vm);
          return res;
        }
        case 'kvm_state': {
          const res = next(req);
          if (!res.ok) return res;
          const s = table(proc).get(req.vm);
          return { ok: true, result: { ...res.result, noncoherentDma: (s?.noncoherentDmaCount ?? 0) > 0 } } as Response;
        }
        default:
          return next(req);
      }
    },
  });
}
