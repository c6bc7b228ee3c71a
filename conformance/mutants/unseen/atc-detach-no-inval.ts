/**
 * C9 — atc-detach-no-inval — a VMM's emulated device address-translation cache
 * (PCIe ATS / device IOTLB) that is invalidated on unmap but not when the
 * device's attachment changes.
 *
 * What real code does: when a device leaves a domain (VFIO_DEVICE_DETACH_IOMMUFD_PT,
 * a replacing VFIO_DEVICE_ATTACH_IOMMUFD_PT, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
 * or the unbind that closing the device file performs), the IOMMU driver
 * tears down the device's context/PASID entry and flushes every cache that
 * still holds translations of the old domain, the device's own ATC included.
 * VT-d (drivers/iommu/intel/pasid.c, intel_pasid_tear_down_entry):
 *
 *         pasid_cache_invalidation_with_pasid(iommu, did, pasid);
 *         ...
 *         iommu->flush.flush_iotlb(iommu, did, 0, 0, DMA_TLB_DSI_FLUSH);
 *         devtlb_invalidation_with_pasid(iommu, dev, pasid);
 *
 * and the blocking domain then faults every access ("blocked").
 *
 * The bug: the emulation keeps a per-device translation cache filled by the
 * device's own DMA (what ATS would cache) and hooks its invalidation only
 * into the IOAS unmap path (IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA, object
 * destruction, context close). Detach / replace / unbind do not invalidate it,
 * and the device consults its cache before asking the IOMMU.
 *
 * Consequence: a device that was detached (or moved to another IOAS) keeps
 * reading and writing the old IOAS's pages at every IOVA it had used, until
 * somebody unmaps something: a device handed back to the host, or to another
 * owner, still DMAs into the previous owner's memory. `translate` (a walk of
 * the page table of the domain the device is attached to now) is right; the
 * device's DMA is not.
 */
import type { Implementation, Profile, Response, SingleRequest, DmaResult } from '../../../spec/contract/types.ts';
import { createReferenceAdapter } from '../../../impl/adapter/adapter.ts';
import { resolveCommand } from '../../../spec/abi/arg.ts';
import { cachedPieces, dmaThroughPieces } from './_cached_dma.ts';

const PAGE = 4096;

interface Entry {
  readonly buffer: number;
  /** Offset in the buffer of the page's first byte. */
  readonly pageOffset: number;
  readonly read: boolean;
  readonly write: boolean;
}

/** Commands on whose path the emulation does invalidate its device caches. */
const FLUSHING = new Set(['IOMMU_IOAS_UNMAP', 'VFIO_IOMMU_UNMAP_DMA', 'IOMMU_DESTROY', 'VFIO_SET_IOMMU']);

export function createAdapter(profile: Profile): Implementation {
  const ref = createReferenceAdapter(profile);
  const call = (r: SingleRequest): Response => ref.handle(r) as Response;
  /** device → page IOVA → cached translation */
  let atc = new Map<number, Map<bigint, Entry>>();
  /** fds that are iommufd contexts (their close flushes everything they mapped). */
  let ctxFds = new Set<number>();

  const flushAll = (): void => {
    atc = new Map();
  };

  const fill = (device: number, iova: bigint, len: number): void => {
    let m = atc.get(device);
    if (!m) atc.set(device, (m = new Map()));
    const first = iova - (iova % BigInt(PAGE));
    for (let p = first; p < iova + BigInt(len); p += BigInt(PAGE)) {
      const t = call({ op: 'translate', device, iova: p });
      if (!t.ok) return;
      const r = t.result as { mapped: boolean; buffer?: number; offset?: number; read?: boolean; write?: boolean };
      if (!r.mapped || r.buffer === undefined || r.offset === undefined) continue;
      m.set(p, { buffer: r.buffer, pageOffset: r.offset, read: !!r.read, write: !!r.write });
    }
  };

  /** The device's access served from its cache, when every page hits with the needed permission. */
  const fromCache = (req: Extract<SingleRequest, { op: 'dma' }>): Response | undefined => {
    const m = atc.get(req.device);
    if (!m || req.pasid !== undefined) return undefined;
    const hit = cachedPieces(req, (page) => m.get(page));
    return hit && dmaThroughPieces(call, req, hit.len, hit.pieces);
  };

  return {
    name: 'atc-detach-no-inval',
    version: '0.1.0',
    profile,
    handle(req: SingleRequest): Response {
      switch (req.op) {
        case 'reset': {
          flushAll();
          ctxFds = new Set();
          return call(req);
        }
        case 'open': {
          const r = call(req);
          if (r.ok && (r.result as { fd: number }).fd >= 0) ctxFds.add((r.result as { fd: number }).fd);
          return r;
        }
        case 'close': {
          // Closing a context unmaps all of it: flushed. Closing a device file unbinds it: THE BUG, not flushed.
          if (ctxFds.has(req.fd)) {
            ctxFds.delete(req.fd);
            flushAll();
          }
          return call(req);
        }
        case 'device_remove': {
          const r = call(req);
          if (r.ok) atc.delete(req.device);
          return r;
        }
        case 'ioctl': {
          const c = resolveCommand(profile, req.cmd);
          if (c && FLUSHING.has(c.name)) flushAll();
          return call(req);
        }
        case 'dma': {
          const hit = fromCache(req);
          if (hit) return hit;
          const r = call(req);
          if (r.ok && (r.result as DmaResult).ok && req.pasid === undefined) {
            const len = req.dir === 'write' ? (req.data?.length ?? 0) : (req.length ?? 0);
            if (len > 0) fill(req.device, req.iova, len);
          }
          return r;
        }
        default:
          return call(req);
      }
    },
    close: () => ref.close?.(),
  };
}
