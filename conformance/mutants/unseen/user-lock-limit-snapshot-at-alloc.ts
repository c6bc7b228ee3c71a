/**
 * user-lock-limit-snapshot-at-alloc (drivers/iommu/iommufd/pages.c
 * iopt_alloc_pages and incr_user_locked_vm, reached from every pin that is
 * charged to the user: a domain filled with an existing mapping
 * (VFIO_DEVICE_ATTACH_IOMMUFD_PT, IOMMU_HWPT_ALLOC, MOCK_DOMAIN), a map or
 * copy into an IOAS with a domain, an access pin; 6.12 and 7.3).
 *
 * An iopt_pages remembers who mapped it, because it may be pinned much later
 * (IOMMU_IOAS_MAP into an IOAS without a domain pins nothing), and the pin
 * must be charged to, and limited by, that task:
 *
 *     pages->source_task = current->group_leader;
 *     get_task_struct(current->group_leader);
 *     pages->source_user = get_uid(current_user());
 *
 *     static int incr_user_locked_vm(struct iopt_pages *pages, unsigned long npages)
 *     {
 *             ...
 *             lock_limit = task_rlimit(pages->source_task, RLIMIT_MEMLOCK) >>
 *                          PAGE_SHIFT;
 *
 * i.e. RLIMIT_MEMLOCK as it is when the pages are pinned.
 *
 * THE FAULT: a cleanup that stops reading the limit through a task pointer
 * that may be a zombie group leader by then snapshots it once, at
 * iopt_alloc_pages, where `current` is the mapping task:
 *
 *     pages->lock_limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
 *     ...
 *     lock_limit = pages->lock_limit;
 *
 * (__account_locked_vm for the MM mode keeps its task argument and is
 * unchanged.) Every later pin of those pages is judged against the limit of
 * the day they were mapped.
 *
 * Why it takes several commands: nothing differs while the limit stays put.
 * It shows when RLIMIT_MEMLOCK changes between an IOMMU_IOAS_MAP that pinned
 * nothing (no domain yet) and the pin of the same pages: a VMM maps guest
 * memory, its manager lowers the limit (prlimit), and the device attached
 * afterwards pins it all — past the new limit — where the kernel refuses the
 * attach with ENOMEM; or the limit is raised and the attach fails with ENOMEM
 * although the pin is now allowed. The same holds for a COPY of those pages
 * into an IOAS with a domain and for access pins. The over-limit charge is
 * real: the user's locked_vm holds pages beyond RLIMIT_MEMLOCK until they are
 * unmapped, and every other map of the user is refused meanwhile.
 *
 * Applied as: the iopt_pages made by IOMMU_IOAS_MAP and VFIO_IOMMU_MAP_DMA
 * (copies of the reference's, _map.ts) see, for as long as they live and
 * while they are charged to the user (IOPT_PAGES_ACCOUNT_USER), the
 * process's RLIMIT_MEMLOCK as it was when they were allocated.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import type { Process } from '../../../impl/process/process.ts';
import { ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { ioasMapHandler, vfioMapDmaHandler } from './_map.ts';

/** iopt_alloc_pages with the limit snapshot: the pages' view of the mapping task. */
function snapshotLimit(pages: IoptPages): void {
  const proc = pages.proc;
  const lockLimit = proc.rlimitMemlockPages(); // pages->lock_limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT
  const view = new Proxy(proc, {
    get(target, key) {
      // THE FAULT: incr_user_locked_vm reads pages->lock_limit, not task_rlimit(pages->source_task, ...).
      if (key === 'rlimitMemlockPages') return () => (pages.accountMode === 'USER' ? lockLimit : target.rlimitMemlockPages());
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
    set(target, key, value) {
      return Reflect.set(target, key, value, target);
    },
  });
  patchOwn(pages, 'proc', () => view as Process);
}

/** iopt_map_pages for a freshly allocated iopt_pages (MAP, MAP_DMA): the snapshot is taken first. */
const mapPages: typeof ioptMapPages = (iopt, list, length, dstIova, prot, flags) => {
  for (const elm of list) if (elm.pages) snapshotLimit(elm.pages);
  return ioptMapPages(iopt, list, length, dstIova, prot, flags);
};

export function createAdapter(profile: Profile): Implementation {
  const vfioMap = vfioMapDmaHandler({ mapPages });
  return mutantImplementation('user-lock-limit-snapshot-at-alloc', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }) },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d) },
  });
}
