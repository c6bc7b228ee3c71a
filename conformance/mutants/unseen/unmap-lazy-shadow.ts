/**
 * C9 — unmap-lazy-shadow — an emulated IOMMU whose shadow page table (what the
 * emulated devices' DMA and the page-table walk see) is updated lazily on
 * unmap: IOMMU_IOAS_UNMAP is reported done, with its length, and its pages
 * unpinned, before the shadow entries are gone.
 *
 * What real code does: iommufd domains are never in lazy (flush-queue) mode.
 * iopt_unmap_iova_range() → iopt_area_unmap_domain_range() → iommu_unmap()
 * ends with the IOTLB sync before the pages are unpinned
 * (drivers/iommu/iommu.c, iommu_unmap):
 *
 *         iommu_iotlb_gather_init(&iotlb_gather);
 *         ret = __iommu_unmap(domain, iova, size, &iotlb_gather);
 *         iommu_iotlb_sync(domain, &iotlb_gather);
 *
 * and only after that does iopt_pages unpin (batch_unpin), so once the ioctl
 * returns no device can reach the range.
 *
 * The bug: the emulation batches the shadow-table teardown and its
 * invalidation, as a lazy "flush queue" would, and issues the batch at the
 * next map (IOMMU_IOAS_MAP / IOMMU_IOAS_COPY) on the same iommufd, when the
 * context is closed, or when the device's attachment changes. In between,
 * every IOVA the unmap removed still translates for the devices that had it,
 * to the very pages iommufd has already unpinned (pin_count 0) and accounted
 * back.
 *
 * Consequence: after a successful unmap a device still reads and writes the
 * unmapped range — into pages that are no longer pinned (a use-after-free
 * window for the guest's or the host's memory), and `translate` keeps showing
 * the mapping.
 */
import type { Implementation, Profile, Response, SingleRequest, DmaResult, TranslateResult, IoctlResult } from '../../../spec/contract/types.ts';
import type { StructValue } from '../../../spec/abi/codec.ts';
import { createReferenceAdapter } from '../../../impl/adapter/adapter.ts';
import { resolveCommand } from '../../../spec/abi/arg.ts';
import { decodeStruct } from '../../../spec/abi/codec.ts';
import { cachedPieces, dmaThroughPieces } from './_cached_dma.ts';

const PAGE = 4096n;
/** At most this many pages of one unmap are kept in the pending batch (the emulation's queue depth). */
const MAX_PENDING = 512;

interface Entry {
  readonly buffer: number;
  readonly pageOffset: number;
  readonly read: boolean;
  readonly write: boolean;
  /** The iommufd whose unmap queued it. */
  readonly fd: number;
}

export function createAdapter(profile: Profile): Implementation {
  const ref = createReferenceAdapter(profile);
  const call = (r: SingleRequest): Response => ref.handle(r) as Response;

  let devices = new Set<number>();
  let devFds = new Map<number, number>(); // device fd → device
  /** (fd, ioas) → mapped ranges as the emulation learned them (MAP / COPY answers). */
  let areas = new Map<string, { iova: bigint; length: bigint }[]>();
  /** device → page IOVA → the shadow entry still live */
  let stale = new Map<number, Map<bigint, Entry>>();

  const fieldsOf = (req: Extract<SingleRequest, { op: 'ioctl' }>, struct: string): StructValue | undefined => {
    if (req.arg.kind === 'struct') return req.arg.fields as StructValue;
    if (req.arg.kind === 'raw') {
      try {
        return decodeStruct(profile, struct, req.arg.bytes);
      } catch {
        return undefined;
      }
    }
    return undefined;
  };
  const outOf = (res: IoctlResult, struct: string): StructValue | undefined => {
    if (res.out) return res.out as StructValue;
    if (res.bytes) {
      try {
        return decodeStruct(profile, struct, res.bytes);
      } catch {
        return undefined;
      }
    }
    return undefined;
  };
  const big = (v: unknown): bigint => (typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(v) : 0n);
  const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : 0);

  const flushFd = (fd: number): void => {
    for (const m of stale.values()) for (const [k, e] of m) if (e.fd === fd) m.delete(k);
  };
  const flushDevice = (device: number): void => {
    stale.delete(device);
  };

  const tr = (device: number, iova: bigint): TranslateResult | undefined => {
    const r = call({ op: 'translate', device, iova });
    return r.ok ? (r.result as TranslateResult) : undefined;
  };

  const unmap = (req: Extract<SingleRequest, { op: 'ioctl' }>, struct: string): Response => {
    const f = fieldsOf(req, struct);
    if (!f) return call(req);
    const key = `${req.fd}:${num(f.ioas_id)}`;
    const start = big(f.iova);
    const end = start + big(f.length); // exclusive; may pass 2^64 for unmap-all
    const list = areas.get(key) ?? [];
    const pages: bigint[] = [];
    for (const a of list) {
      const lo = a.iova > start ? a.iova : start;
      const hi = a.iova + a.length < end ? a.iova + a.length : end;
      for (let p = lo - (lo % PAGE); p < hi && pages.length < MAX_PENDING; p += PAGE) pages.push(p);
    }
    const before = new Map<string, TranslateResult>();
    for (const d of devices) for (const p of pages) {
      const t = tr(d, p);
      if (t?.mapped && t.buffer !== undefined) before.set(`${d}:${p}`, t);
    }
    const r = call(req);
    if (r.ok && (r.result as IoctlResult).ret >= 0) {
      areas.set(key, list.filter((a) => a.iova + a.length <= start || a.iova >= end));
    }
    // What the IOMMU side really removed is still in the shadow table: queued, not torn down.
    for (const [k, t] of before) {
      const [ds, ps] = k.split(':');
      const d = Number(ds);
      const p = BigInt(ps!);
      const now = tr(d, p);
      if (now?.mapped) continue;
      let m = stale.get(d);
      if (!m) stale.set(d, (m = new Map()));
      m.set(p, { buffer: t.buffer!, pageOffset: t.offset! - Number(p % PAGE), read: !!t.read, write: !!t.write, fd: req.fd });
    }
    return r;
  };

  const recordMap = (req: Extract<SingleRequest, { op: 'ioctl' }>, name: string, struct: string, r: Response): void => {
    if (!r.ok) return;
    const res = r.result as IoctlResult;
    if (res.ret < 0) return;
    const f = fieldsOf(req, struct);
    const o = outOf(res, struct);
    if (!f || !o) return;
    const ioas = name === 'IOMMU_IOAS_COPY' ? num(f.dst_ioas_id) : num(f.ioas_id);
    const iova = name === 'IOMMU_IOAS_COPY' ? big(o.dst_iova) : big(o.iova);
    const key = `${req.fd}:${ioas}`;
    const list = areas.get(key) ?? [];
    list.push({ iova, length: big(f.length) });
    areas.set(key, list);
  };

  const resolvePage = (device: number, page: bigint): Entry | undefined => {
    const s = stale.get(device)?.get(page);
    if (s) return s;
    const t = tr(device, page);
    if (!t?.mapped || t.buffer === undefined || t.offset === undefined) return undefined;
    return { buffer: t.buffer, pageOffset: t.offset, read: !!t.read, write: !!t.write, fd: -1 };
  };

  const dmaThroughShadow = (req: Extract<SingleRequest, { op: 'dma' }>): Response | undefined => {
    if (req.pasid !== undefined || !stale.get(req.device)?.size) return undefined;
    let anyStale = false;
    const hit = cachedPieces(req, (page) => {
      if (stale.get(req.device)?.has(page)) anyStale = true;
      return resolvePage(req.device, page);
    });
    if (!hit || !anyStale) return undefined;
    return dmaThroughPieces(call, req, hit.len, hit.pieces);
  };

  return {
    name: 'unmap-lazy-shadow',
    version: '0.1.0',
    profile,
    handle(req: SingleRequest): Response {
      switch (req.op) {
        case 'reset':
          devices = new Set();
          devFds = new Map();
          areas = new Map();
          stale = new Map();
          return call(req);
        case 'device_create': {
          const r = call(req);
          if (r.ok) devices.add((r.result as { device: number }).device);
          return r;
        }
        case 'device_remove': {
          const r = call(req);
          if (r.ok) {
            devices.delete(req.device);
            flushDevice(req.device);
          }
          return r;
        }
        case 'open_device': {
          const r = call(req);
          if (r.ok && (r.result as { fd: number }).fd >= 0) devFds.set((r.result as { fd: number }).fd, req.device);
          return r;
        }
        case 'close': {
          const d = devFds.get(req.fd);
          if (d !== undefined) {
            devFds.delete(req.fd);
            flushDevice(d);
          } else {
            flushFd(req.fd);
            for (const k of [...areas.keys()]) if (k.startsWith(`${req.fd}:`)) areas.delete(k);
          }
          return call(req);
        }
        case 'ioctl': {
          const c = resolveCommand(profile, req.cmd);
          const d = devFds.get(req.fd);
          if (d !== undefined) {
            // Attachment changes rebuild the device's shadow: the queue for it is issued.
            flushDevice(d);
            return call(req);
          }
          if (!c?.struct) return call(req);
          if (c.name === 'IOMMU_IOAS_UNMAP') return unmap(req, c.struct);
          if (c.name === 'IOMMU_IOAS_MAP' || c.name === 'IOMMU_IOAS_COPY') {
            const r = call(req);
            recordMap(req, c.name, c.struct, r);
            if (r.ok && (r.result as IoctlResult).ret >= 0) flushFd(req.fd); // the batch goes out with the next map
            return r;
          }
          return call(req);
        }
        case 'translate': {
          const r = call(req);
          if (!r.ok || req.pasid !== undefined || (r.result as TranslateResult).mapped) return r;
          const page = req.iova - (req.iova % PAGE);
          const e = stale.get(req.device)?.get(page);
          if (!e) return r;
          const res: TranslateResult = { mapped: true, buffer: e.buffer, offset: e.pageOffset + Number(req.iova - page), read: e.read, write: e.write };
          return { ok: true, result: res };
        }
        case 'dma': {
          const r = call(req);
          if (!r.ok || (r.result as DmaResult).ok) return r;
          return dmaThroughShadow(req) ?? r;
        }
        default:
          return call(req);
      }
    },
    close: () => ref.close?.(),
  };
}
