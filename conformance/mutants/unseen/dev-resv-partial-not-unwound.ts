/**
 * dev-resv-partial-not-unwound (drivers/iommu/iommufd/io_pagetable.c
 * iopt_table_enforce_dev_resv_regions, its out_reserved path; reached when a
 * device joins an IOAS: VFIO_DEVICE_ATTACH_IOMMUFD_PT by IOAS id (the
 * automatic domain's immediate attach) or by HWPT id, and a replace onto a
 * HWPT of another IOAS; 6.12 and 7.3).
 *
 * A device's reserved regions (the IOMMU unit's MSI window, AMD's
 * HyperTransport hole, an ARM SW_MSI window, then the device's own firmware
 * regions) are reserved in the IOAS one by one, owned by the device; a region
 * that meets an existing area or an allowed range refuses the attach. The
 * function is all or nothing:
 *
 *     list_for_each_entry(resv, &resv_regions, list) {
 *             if (resv->type == IOMMU_RESV_DIRECT_RELAXABLE)
 *                     continue;
 *             ...
 *             rc = iopt_reserve_iova(iopt, resv->start,
 *                                    resv->length - 1 + resv->start, dev);
 *             if (rc)
 *                     goto out_reserved;
 *     }
 *     ...
 * out_reserved:
 *     __iopt_remove_reserved_iova(iopt, dev);
 * out_free_resv:
 *     iommu_put_resv_regions(dev, &resv_regions);
 *     up_write(&iopt->iova_rwsem);
 *     return rc;
 *
 * because its callers unreserve only after it succeeded:
 * iommufd_hw_pagetable_attach goes to err_unlock, not err_unresv, when
 * iommufd_device_attach_reserved_iova() fails.
 *
 * THE FAULT: the conflict exits through out_free_resv (the label that frees
 * the list, as the success path does), skipping out_reserved — the regions
 * reserved before the one that conflicted stay in the IOAS, owned by a device
 * that never attached there.
 *
 * Why it takes several commands and two objects: the attach itself answers
 * as it must (EADDRINUSE) and changes nothing a device can see. The damage is
 * in the IOAS, for its other users, later: IOMMU_IOAS_IOVA_RANGES loses the
 * earlier regions (for x86 units the MSI window, for SMMUv3 the SW_MSI
 * window at 128 MiB); a fixed IOMMU_IOAS_MAP / IOAS_COPY / VFIO_IOMMU_MAP_DMA
 * over them fails with EINVAL and IOMMU_IOAS_ALLOW_IOVAS over them with
 * EADDRINUSE, where nothing is attached that reserves them; automatic IOVAs
 * step around them. Nothing removes them but a successful attach and detach
 * of that same device, or the IOAS's destruction. Only a device with at least
 * two reserved regions, of which a later one meets a mapping or an allowed
 * range, shows it.
 *
 * Applied as: on each IOAS's io_pagetable, when the device reservations of
 * one request are taken back while the device has not reserved all of its
 * regions in that request (the iopt_reserve_iova that failed is what stopped
 * it), that first removal is undone; removals after a complete reservation
 * (the callers' err_unresv, a detach) are the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas, IoPagetable, ReservedRange } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** A reservation owner that is a device: iommu_get_resv_regions(dev). */
interface ResvOwner {
  resvRegions(): readonly { readonly type: string }[];
}

function isDevice(owner: unknown): owner is ResvOwner {
  return typeof owner === 'object' && owner !== null && typeof (owner as Partial<ResvOwner>).resvRegions === 'function';
}

/** What one request did to one io_pagetable's device reservations. */
interface RequestState {
  /** Regions each device reserved during the request. */
  readonly pushed: Map<unknown, number>;
  /** Devices whose reservations were already taken back once during the request. */
  readonly removed: Set<unknown>;
}

function install(iopt: IoPagetable, states: Map<IoPagetable, RequestState>): void {
  const state = (): RequestState => {
    let s = states.get(iopt);
    if (!s) states.set(iopt, (s = { pushed: new Map(), removed: new Set() }));
    return s;
  };
  // iopt_reserve_iova inserts into reserved_itree: count each device's reservations of this request.
  const watch = (list: ReservedRange[]): ReservedRange[] => {
    patchOwn(list, 'push', (push) => (...items: ReservedRange[]) => {
      for (const r of items) if (isDevice(r.owner)) state().pushed.set(r.owner, (state().pushed.get(r.owner) ?? 0) + 1);
      return push(...items);
    });
    return list;
  };
  let reserved = watch(iopt.reserved);
  Object.defineProperty(iopt, 'reserved', {
    configurable: true,
    enumerable: true,
    get: () => reserved,
    // __iopt_remove_reserved_iova(iopt, owner) replaces the list by the one without the owner's ranges.
    set: (next: ReservedRange[]) => {
      const s = state();
      const gone = reserved.filter((r) => !next.includes(r));
      const kept: ReservedRange[] = [];
      for (const owner of new Set(gone.map((r) => r.owner))) {
        if (!isDevice(owner) || s.removed.has(owner)) continue;
        s.removed.add(owner);
        const pushed = s.pushed.get(owner) ?? 0;
        const regions = owner.resvRegions().filter((r) => r.type !== 'direct-relaxable').length;
        // THE FAULT: a partial reservation (an iopt_reserve_iova failed) skips out_reserved.
        if (pushed > 0 && pushed < regions) kept.push(...gone.filter((r) => r.owner === owner));
      }
      reserved = watch([...next, ...kept]);
    },
  });
}

export function createAdapter(profile: Profile): Implementation {
  const states = new Map<IoPagetable, RequestState>();
  return mutantImplementation('dev-resv-partial-not-unwound', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      install((obj as IommufdIoas).iopt, states);
    },
    request: (req, next) => {
      try {
        return next(req);
      } finally {
        states.clear();
      }
    },
  });
}
