/**
 * C9 — ipc-lock-at-open — an iommufd port that decides whether a mapping's
 * pages are charged from CAP_IPC_LOCK sampled once, when the context was
 * opened, instead of at each map.
 *
 * What real code does: the capability is tested when the pages of a new
 * mapping are allocated, i.e. at every IOMMU_IOAS_MAP / VFIO_IOMMU_MAP_DMA,
 * against the credentials of the caller of that ioctl
 * (drivers/iommu/iommufd/pages.c, iopt_alloc_pages):
 *
 *         pages->writable = writable;
 *         if (capable(CAP_IPC_LOCK))
 *                 pages->account_mode = IOPT_PAGES_ACCOUNT_NONE;
 *         else
 *                 pages->account_mode = IOPT_PAGES_ACCOUNT_USER;
 *
 * (iommufd_fops_open only fixes ictx->account_mode, the USER/MM choice.)
 *
 * The bug: the port caches `capable(CAP_IPC_LOCK)` in its context at open,
 * next to the accounting mode, and every later map uses the cached answer.
 * Applied as: while such a map runs, the reference's process holds the
 * capability as it was when that fd was opened (set_process underneath, put
 * back right after), so the mapping's pages carry that account mode for the
 * rest of their life (their unmap uncharges what was charged).
 *
 * Consequence: a process that opened /dev/iommu while privileged and then
 * dropped CAP_IPC_LOCK (a VMM that sandboxes itself after setup) pins memory
 * without any charge against RLIMIT_MEMLOCK — unbounded pinning by an
 * unprivileged process; conversely a context opened unprivileged keeps
 * charging (and failing with ENOMEM) after the capability was granted.
 */
import type { Implementation, Profile, Response, SingleRequest } from '../../../spec/contract/types.ts';
import { createReferenceAdapter } from '../../../impl/adapter/adapter.ts';
import { resolveCommand } from '../../../spec/abi/arg.ts';

/** The commands that allocate the pages of a new mapping (iopt_alloc_pages). */
const ALLOCATING = new Set(['IOMMU_IOAS_MAP', 'VFIO_IOMMU_MAP_DMA', 'IOMMU_IOAS_MAP_FILE']);

export function createAdapter(profile: Profile): Implementation {
  const ref = createReferenceAdapter(profile);
  const call = (r: SingleRequest): Response => ref.handle(r) as Response;
  let cap = true; // the session default (ADAPTER.md §3.2)
  let capAtOpen = new Map<number, boolean>();

  return {
    name: 'ipc-lock-at-open',
    version: '0.1.0',
    profile,
    handle(req: SingleRequest): Response {
      switch (req.op) {
        case 'reset':
          cap = true;
          capAtOpen = new Map();
          return call(req);
        case 'set_process': {
          const r = call(req);
          if (r.ok && req.capIpcLock !== undefined) cap = req.capIpcLock;
          return r;
        }
        case 'open': {
          const r = call(req);
          const fd = r.ok ? (r.result as { fd: number }).fd : -1;
          if (fd >= 0) capAtOpen.set(fd, cap);
          return r;
        }
        case 'close': {
          capAtOpen.delete(req.fd);
          return call(req);
        }
        case 'ioctl': {
          const c = resolveCommand(profile, req.cmd);
          const cached = capAtOpen.get(req.fd);
          if (!c || !ALLOCATING.has(c.name) || cached === undefined || cached === cap) return call(req);
          // THE BUG: the context's cached capability, not the caller's current one.
          call({ op: 'set_process', capIpcLock: cached });
          try {
            return call(req);
          } finally {
            call({ op: 'set_process', capIpcLock: cap });
          }
        }
        default:
          return call(req);
      }
    },
    close: () => ref.close?.(),
  };
}
