/**
 * Faults behind the protocol: the reference wrapped so that some answers lie,
 * or some requests are quietly changed on their way in — what a broken
 * implementation looks like from the suite's side of an adapter, with no
 * knowledge of impl/. The catalogue (catalogue.ts) breaks the reference's
 * code; these break its word. Neither is what the invariants were written
 * against: answer-faults.test.ts holds `--oracle invariants` to killing every
 * one, so the invariants stay strong on their own rather than tuned to the
 * catalogue (the DMA-data ones survived until the DMA checks read the memory
 * back instead of trusting `touched`).
 *
 * Each fault keeps per-session state in a closure and forgets it on `reset`.
 */
import type { DmaResult, Implementation, KvmState, IoctlResult, Profile, Response, SingleRequest, StructValue, TranslateResult } from '../../spec/contract/types.ts';
import { createReferenceAdapter } from '../../impl/adapter/adapter.ts';
import {
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  IOMMU_TEST_OP_ACCESS_RW,
  IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
  IOMMU_VFIO_IOAS_GET,
  VFIO_IOMMU_INFO_CAPS,
} from '../../spec/uapi/constants.ts';
import { EADDRINUSE, EBUSY, EEXIST, EINVAL, ENODEV, ENOENT, EPERM } from '../../impl/lib/errno.ts';
import { flagMask } from '../../spec/uapi/lookup.ts';

const PAGE = 4096n;

/** One request through the fault: `next` asks the reference. */
type Handler = (req: SingleRequest, next: (req: SingleRequest) => Response) => Response;

export interface AnswerFault {
  readonly name: string;
  /** The invariant family that must notice (for the report; the test only asks that one does). */
  readonly breaks: 'dma-confinement' | 'group-isolation' | 'accounting' | 'lifetime' | 'coherency' | 'abi-hygiene' | 'stability';
  readonly change: string;
  /** A fresh handler per adapter (its state is the session's). */
  readonly make: (profile: Profile) => Handler;
}

/** The invariants a security fault breaks (isolation, confinement, coherency): `mutants --answer-faults` marks them. */
export const SECURITY_BREAKS: ReadonlySet<AnswerFault['breaks']> = new Set(['dma-confinement', 'group-isolation', 'coherency']);

const ioctlOf = (req: SingleRequest, cmd: string): StructValue | undefined => (req.op === 'ioctl' && req.cmd === cmd && req.arg.kind === 'struct' ? req.arg.fields : undefined);
const withFields = (req: SingleRequest, fields: StructValue): SingleRequest => (req.op === 'ioctl' && req.arg.kind === 'struct' ? { ...req, arg: { ...req.arg, fields } } : req);
const ioctlResult = (r: Response): IoctlResult | undefined => (r.ok ? (r.result as IoctlResult) : undefined);
const big = (v: unknown): bigint => BigInt((v as number | bigint | undefined) ?? 0);

/** The answer of an ioctl that fails with `errno` before it touches anything: the same ioctl on a file that is not open (EBADF, argument untouched), with `errno` in its place. */
function failed(req: SingleRequest, next: (req: SingleRequest) => Response, errno: number): Response {
  const res = req.op === 'ioctl' ? ioctlResult(next({ ...req, fd: 0x7fffffff })) : undefined;
  return res ? { ok: true, result: { ...res, ret: -1, errno } } : next(req);
}

export const ANSWER_FAULTS: readonly AnswerFault[] = [
  {
    name: 'translate-remembers-unmapped',
    breaks: 'dma-confinement',
    change: 'translate keeps answering a page it once answered as mapped after the page is unmapped or the device detached',
    make: () => {
      const seen = new Map<string, TranslateResult>();
      return (req, next) => {
        if (req.op === 'reset') seen.clear();
        const r = next(req);
        if (req.op !== 'translate' || !r.ok) return r;
        const key = `${req.device}:${req.iova / PAGE}`;
        const t = r.result as TranslateResult;
        if (t.mapped) seen.set(key, t);
        else if (seen.has(key)) return { ok: true, result: seen.get(key) as TranslateResult };
        return r;
      };
    },
  },
  {
    name: 'dma-unmapped-reads-zeros',
    breaks: 'dma-confinement',
    change: 'every third DMA read of an unmapped IOVA succeeds with zeros instead of faulting',
    make: () => {
      let n = 0;
      return (req, next) => {
        const r = next(req);
        if (req.op !== 'dma' || !r.ok) return r;
        const d = r.result as DmaResult;
        if (d.ok || d.fault !== 'unmapped' || n++ % 3 !== 0) return r;
        return { ok: true, result: { ok: true, data: new Uint8Array(req.length ?? 8), touched: [] } };
      };
    },
  },
  {
    name: 'dma-read-zeros',
    breaks: 'dma-confinement',
    change: 'a DMA read that succeeds answers zeros instead of the bytes it read',
    make: () => (req, next) => {
      const r = next(req);
      if (req.op !== 'dma' || req.dir !== 'read' || !r.ok) return r;
      const d = r.result as DmaResult;
      return d.ok && d.data ? { ok: true, result: { ...d, data: new Uint8Array(d.data.length) } } : r;
    },
  },
  {
    name: 'dma-write-next-page',
    breaks: 'dma-confinement',
    change: 'a DMA write lands one IOVA page further, and reports the bytes it should have touched',
    make: () => (req, next) => {
      if (req.op !== 'dma' || req.dir !== 'write') return next(req);
      const r = next({ ...req, iova: req.iova + PAGE });
      const d = r.ok ? (r.result as DmaResult) : undefined;
      if (!d?.ok) return next(req);
      return { ok: true, result: { ...d, touched: (d.touched ?? []).map((t) => ({ ...t, offset: t.offset - Number(PAGE) })) } };
    },
  },
  {
    name: 'dma-write-overruns',
    breaks: 'dma-confinement',
    change: 'a DMA write writes 8 bytes past its end, and reports only the bytes asked for',
    make: () => (req, next) => {
      if (req.op !== 'dma' || req.dir !== 'write' || !req.data) return next(req);
      const more = new Uint8Array(req.data.length + 8).fill(0xee);
      more.set(req.data);
      const r = next({ ...req, data: more });
      const d = r.ok ? (r.result as DmaResult) : undefined;
      if (!d?.ok) return next(req);
      return { ok: true, result: { ...d, touched: (d.touched ?? []).map((t, i, all) => (i === all.length - 1 ? { ...t, length: t.length - 8 } : t)).filter((t) => t.length > 0) } };
    },
  },
  {
    name: 'access-rw-next-page',
    breaks: 'dma-confinement',
    change: 'IOMMU_TEST_OP_ACCESS_RW reads or writes one IOVA page further than asked, when that works',
    make: () => (req, next) => {
      const f = ioctlOf(req, 'IOMMU_TEST_CMD');
      const rw = f && Number(f['op']) === IOMMU_TEST_OP_ACCESS_RW ? (f['access_rw'] as StructValue | undefined) : undefined;
      if (!f || !rw || rw['iova'] === undefined) return next(req);
      const r = next(withFields(req, { ...f, access_rw: { ...rw, iova: big(rw['iova']) + PAGE } }));
      return ioctlResult(r)?.errno === 0 ? r : next(req);
    },
  },
  {
    name: 'unmap-keeps-last-page',
    breaks: 'dma-confinement',
    change: 'IOAS_UNMAP of more than a page unmaps all but the last page and reports the whole length',
    make: () => (req, next) => {
      const f = ioctlOf(req, 'IOMMU_IOAS_UNMAP');
      const length = big(f?.['length']);
      if (!f || length <= PAGE || big(f['iova']) === 0n) return next(req);
      const r = next(withFields(req, { ...f, length: length - PAGE }));
      const res = ioctlResult(r);
      if (res?.errno !== 0 || !res.out) return r;
      return { ok: true, result: { ...res, out: { ...res.out, length: big(res.out['length']) + PAGE } } };
    },
  },
  {
    name: 'map-read-only-writable',
    breaks: 'dma-confinement',
    change: 'IOAS_MAP with READABLE alone maps the pages writable too',
    make: () => (req, next) => {
      const f = ioctlOf(req, 'IOMMU_IOAS_MAP');
      const flags = Number(f?.['flags'] ?? 0);
      if (!f || (flags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) !== IOMMU_IOAS_MAP_READABLE) return next(req);
      return next(withFields(req, { ...f, flags: flags | IOMMU_IOAS_MAP_WRITEABLE }));
    },
  },
  {
    name: 'translate-says-writable',
    breaks: 'dma-confinement',
    change: 'translate answers every mapped page as writable',
    make: () => (req, next) => {
      const r = next(req);
      if (req.op !== 'translate' || !r.ok || !(r.result as TranslateResult).mapped) return r;
      return { ok: true, result: { ...(r.result as TranslateResult), write: true } };
    },
  },
  {
    name: 'fixed-iova-placed-anywhere',
    breaks: 'group-isolation',
    change: 'IOAS_MAP with FIXED_IOVA is placed automatically and answered as placed at the IOVA asked for',
    make: () => (req, next) => {
      const f = ioctlOf(req, 'IOMMU_IOAS_MAP');
      const flags = Number(f?.['flags'] ?? 0);
      if (!f || !(flags & IOMMU_IOAS_MAP_FIXED_IOVA)) return next(req);
      const r = next(withFields(req, { ...f, flags: flags & ~IOMMU_IOAS_MAP_FIXED_IOVA }));
      const res = ioctlResult(r);
      if (res?.errno !== 0 || !res.out) return next(req);
      return { ok: true, result: { ...res, out: { ...res.out, iova: f['iova'] } } };
    },
  },
  {
    name: 'attach-to-first-ioas',
    breaks: 'group-isolation',
    change: 'attaching a device to an IOAS attaches it to the first IOAS of that context instead',
    make: () => {
      const ioasOf = new Map<number, unknown[]>();
      return (req, next) => {
        if (req.op === 'reset') ioasOf.clear();
        if (ioctlOf(req, 'IOMMU_IOAS_ALLOC') && req.op === 'ioctl') {
          const r = next(req);
          const res = ioctlResult(r);
          if (res?.errno === 0 && res.out) ioasOf.set(req.fd, [...(ioasOf.get(req.fd) ?? []), res.out['out_ioas_id']]);
          return r;
        }
        const f = ioctlOf(req, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT');
        if (f) for (const list of ioasOf.values()) if (list.length >= 2 && list.includes(f['pt_id']) && f['pt_id'] !== list[0]) return next(withFields(req, { ...f, pt_id: list[0] as number }));
        return next(req);
      };
    },
  },
  {
    name: 'ioas-alloc-answers-old-id',
    breaks: 'dma-confinement',
    change: 'every third IOAS_ALLOC answers the id of the IOAS allocated before it',
    make: () => {
      let last: unknown;
      let n = 0;
      return (req, next) => {
        if (req.op === 'reset') last = undefined;
        const r = next(req);
        const res = ioctlOf(req, 'IOMMU_IOAS_ALLOC') ? ioctlResult(r) : undefined;
        if (res?.errno !== 0 || !res.out) return r;
        const before = last;
        last = res.out['out_ioas_id'];
        return before !== undefined && n++ % 3 === 2 ? { ok: true, result: { ...res, out: { ...res.out, out_ioas_id: before } } } : r;
      };
    },
  },
  {
    name: 'destroy-busy-answers-ok',
    breaks: 'lifetime',
    change: 'IOMMU_DESTROY of an object in use answers success (the object stays)',
    make: () => (req, next) => {
      const r = next(req);
      const res = ioctlOf(req, 'IOMMU_DESTROY') ? ioctlResult(r) : undefined;
      return res?.errno === EBUSY ? { ok: true, result: { ...res, ret: 0, errno: 0 } } : r;
    },
  },
  {
    name: 'device-close-ignored',
    breaks: 'accounting',
    change: 'every other close of a VFIO device file answers success and does nothing (the device stays bound and attached)',
    make: () => {
      const deviceFds = new Set<number>();
      let n = 0;
      return (req, next) => {
        if (req.op === 'reset') deviceFds.clear();
        if (req.op === 'close' && deviceFds.delete(req.fd) && n++ % 2 === 0) return { ok: true, result: { ret: 0, errno: 0 } };
        const r = next(req);
        if (req.op === 'open_device' && r.ok) deviceFds.add((r.result as { fd: number }).fd);
        return r;
      };
    },
  },
  {
    name: 'pins-counted-once',
    breaks: 'accounting',
    change: 'pin_count answers one pin less on every page pinned more than once',
    make: () => (req, next) => {
      const r = next(req);
      if (req.op !== 'pin_count' || !r.ok) return r;
      return { ok: true, result: { pins: (r.result as { pins: number[] }).pins.map((p) => (p >= 2 ? p - 1 : p)) } };
    },
  },
  {
    name: 'locked-vm-unreported',
    breaks: 'accounting',
    change: 'process_info answers no pinned or locked memory',
    make: () => (req, next) => {
      const r = next(req);
      return req.op === 'process_info' && r.ok ? { ok: true, result: { ...(r.result as object), lockedVmPages: 0, pinnedVmPages: 0 } } : r;
    },
  },
  {
    name: 'kvm-never-noncoherent',
    breaks: 'coherency',
    change: 'kvm_state never reports non-coherent DMA (WBINVD never emulated)',
    make: () => (req, next) => {
      const r = next(req);
      return req.op === 'kvm_state' && r.ok ? { ok: true, result: { ...(r.result as KvmState), noncoherentDma: false } } : r;
    },
  },
  {
    name: 'reserved-fields-ignored',
    breaks: 'abi-hygiene',
    change: 'non-zero __reserved fields of iommufd structs are cleared on the way in (the kernel never sees them)',
    make: () => (req, next) => {
      if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || !String(req.cmd).startsWith('IOMMU_')) return next(req);
      const fields = Object.fromEntries(Object.entries(req.arg.fields).map(([k, v]) => [k, /reserved/.test(k) ? 0 : v]));
      return next(withFields(req, fields));
    },
  },
  {
    name: 'nonzero-tail-dropped',
    breaks: 'abi-hygiene',
    change: 'the bytes past a struct the kernel knows are dropped on the way in (a non-zero tail is accepted)',
    make: () => (req, next) => (req.op === 'ioctl' && req.arg.kind === 'struct' && req.arg.tail?.some((b) => b !== 0) ? next({ ...req, arg: { kind: 'struct', fields: req.arg.fields } }) : next(req)),
  },
  {
    name: 'auto-iova-random',
    breaks: 'stability',
    change: 'an automatic IOVA is placed at a pseudo-random 64 KiB-aligned IOVA where one fits (a sequence that `reset` does not restart), not where iopt_alloc_iova would',
    make: () => {
      let x = 0x9e3779b9;
      return (req, next) => {
        const f = ioctlOf(req, 'IOMMU_IOAS_MAP');
        if (!f || Number(f['flags'] ?? 0) & IOMMU_IOAS_MAP_FIXED_IOVA) return next(req);
        for (let tries = 0; tries < 4; tries++) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          const iova = BigInt((x >>> 20) + 256) * 0x10000n;
          const r = next(withFields(req, { ...f, iova, flags: Number(f['flags'] ?? 0) | IOMMU_IOAS_MAP_FIXED_IOVA }));
          if (ioctlResult(r)?.errno === 0) return r;
        }
        return next(req);
      };
    },
  },
  {
    name: 'destroy-does-nothing',
    breaks: 'lifetime',
    change: 'IOMMU_DESTROY answers success and destroys nothing (the id stays usable)',
    make: () => (req, next) => {
      const f = ioctlOf(req, 'IOMMU_DESTROY');
      if (!f) return next(req);
      // The kernel's own answer to a DESTROY of nothing (id 0: ENOENT), turned into a success.
      const r = next(withFields(req, { ...f, id: 0 }));
      const res = ioctlResult(r);
      return res ? { ok: true, result: { ...res, ret: 0, errno: 0 } } : r;
    },
  },
  {
    name: 'unknown-map-flags-cleared',
    breaks: 'abi-hygiene',
    change: 'IOAS_MAP flag bits the kernel does not know are cleared on the way in (an unknown flag is accepted)',
    make: (profile) => {
      const known = flagMask(profile, 'iommufd_ioas_map_flags');
      return (req, next) => {
        const f = ioctlOf(req, 'IOMMU_IOAS_MAP');
        return f ? next(withFields(req, { ...f, flags: Number(f['flags'] ?? 0) & known })) : next(req);
      };
    },
  },
  {
    name: 'detach-answers-ok-only',
    breaks: 'dma-confinement',
    change: 'VFIO_DEVICE_DETACH_IOMMUFD_PT answers success without detaching (the device keeps its DMA)',
    make: () => (req, next) => {
      if (!ioctlOf(req, 'VFIO_DEVICE_DETACH_IOMMUFD_PT') || req.op !== 'ioctl') return next(req);
      // The answer to the same ioctl on a file that is not open (EBADF), turned into a success.
      const res = ioctlResult(next({ ...req, fd: 0x7fffffff }));
      return res ? { ok: true, result: { ...res, ret: 0, errno: 0 } } : next(req);
    },
  },
  {
    name: 'dma-fault-returns-data',
    breaks: 'dma-confinement',
    change: 'a DMA read that faults still answers the bytes at that IOVA (the page behind it, where one is mapped, e.g. write-only)',
    make: () => (req, next) => {
      const r = next(req);
      if (req.op !== 'dma' || req.dir !== 'read' || !r.ok || (r.result as DmaResult).ok) return r;
      const length = req.length ?? 8;
      const t = next({ op: 'translate', device: req.device, iova: req.iova });
      const at = t.ok ? (t.result as TranslateResult) : undefined;
      const read = at?.mapped && at.buffer !== undefined && at.offset !== undefined ? next({ op: 'mem_read', buffer: at.buffer, offset: at.offset, length: Math.min(length, 4096 - (at.offset % 4096)) }) : undefined;
      const data = read?.ok ? (read.result as { data: Uint8Array }).data : new Uint8Array(length);
      return { ok: true, result: { ...(r.result as DmaResult), data } };
    },
  },
  {
    name: 'kvm-del-ignored',
    breaks: 'coherency',
    change: 'kvm_vfio_del answers success and leaves the file registered (WBINVD stays on)',
    make: () => (req, next) => (req.op === 'kvm_vfio_del' ? { ok: true, result: {} } : next(req)),
  },
  {
    name: 'iova-ranges-hide-reserved',
    breaks: 'dma-confinement',
    change: 'IOAS_IOVA_RANGES answers one range from the first allowed IOVA to the last, the reserved holes between them left out',
    make: () => (req, next) => {
      const r = next(req);
      const res = ioctlOf(req, 'IOMMU_IOAS_IOVA_RANGES') ? ioctlResult(r) : undefined;
      const ranges = res?.buffers?.['allowed_iovas'];
      const n = Number(res?.out?.['num_iovas'] ?? 0);
      if (res?.errno !== 0 || !res.out || !ranges || n < 2 || ranges.length < 16 * n) return r;
      const merged = new Uint8Array(ranges);
      merged.copyWithin(8, 16 * n - 8, 16 * n);
      merged.fill(0, 16, 16 * n);
      return { ok: true, result: { ...res, out: { ...res.out, num_iovas: 1 }, buffers: { ...res.buffers, allowed_iovas: merged } } };
    },
  },
  {
    name: 'unmapped-range-stays-busy',
    breaks: 'lifetime',
    change: 'a fixed-IOVA IOAS_MAP over a range an IOAS_UNMAP emptied answers EEXIST (the area stayed in the tree)',
    make: () => {
      const emptied: { fd: number; ioas: unknown; start: bigint; last: bigint }[] = [];
      return (req, next) => {
        if (req.op === 'reset') emptied.length = 0;
        const map = ioctlOf(req, 'IOMMU_IOAS_MAP');
        if (map && req.op === 'ioctl' && Number(map['flags'] ?? 0) & IOMMU_IOAS_MAP_FIXED_IOVA) {
          const start = big(map['iova']);
          const last = start + big(map['length']) - 1n;
          if (emptied.some((e) => e.fd === req.fd && e.ioas === map['ioas_id'] && e.start <= last && start <= e.last)) {
            return failed(req, next, EEXIST);
          }
        }
        const r = next(req);
        const unmap = ioctlOf(req, 'IOMMU_IOAS_UNMAP');
        const res = ioctlResult(r);
        if (unmap && req.op === 'ioctl' && res?.errno === 0 && big(res.out?.['length']) > 0n) {
          emptied.push({ fd: req.fd, ioas: unmap['ioas_id'], start: big(unmap['iova']), last: big(unmap['iova']) + big(res.out?.['length']) - 1n });
        }
        return r;
      };
    },
  },
  {
    name: 'copy-takes-what-it-finds',
    breaks: 'dma-confinement',
    change: 'IOAS_COPY over a source with a hole copies the leading run it found and answers success for the whole length (iopt_area_contig_done unchecked)',
    make: () => (req, next) => {
      const f = ioctlOf(req, 'IOMMU_IOAS_COPY');
      const r = next(req);
      if (!f || ioctlResult(r)?.errno !== ENOENT) return r;
      for (let length = (big(f['length']) / 2n / PAGE) * PAGE; length >= PAGE; length = (length / 2n / PAGE) * PAGE) {
        const part = ioctlResult(next(withFields(req, { ...f, length })));
        if (part?.errno === 0 && part.out) return { ok: true, result: { ...part, out: { ...part.out, length: f['length'] } } };
      }
      return r;
    },
  },
  {
    name: 'get-info-without-caps',
    breaks: 'abi-hygiene',
    change: 'VFIO_IOMMU_GET_INFO never reports its capability chain (no VFIO_IOMMU_INFO_CAPS, cap_offset 0) even when argsz holds it',
    make: () => (req, next) => {
      const r = next(req);
      const res = ioctlOf(req, 'VFIO_IOMMU_GET_INFO') ? ioctlResult(r) : undefined;
      if (res?.errno !== 0 || !res.out) return r;
      return { ok: true, result: { ...res, out: { ...res.out, flags: Number(res.out['flags'] ?? 0) & ~VFIO_IOMMU_INFO_CAPS, cap_offset: 0 } } };
    },
  },
  {
    name: 'set-iommu-any-type',
    breaks: 'abi-hygiene',
    change: 'VFIO_SET_IOMMU with a type the compat layer does not serve is taken as TYPE1v2',
    make: () => (req, next) => {
      if (req.op !== 'ioctl' || req.cmd !== 'VFIO_SET_IOMMU' || req.arg.kind !== 'int') return next(req);
      const r = next(req);
      return ioctlResult(r)?.errno === 0 ? r : next({ ...req, arg: { kind: 'int', value: 3n } });
    },
  },
  {
    name: 'rlimit-mode-unprivileged',
    breaks: 'accounting',
    change: 'IOMMU_OPTION RLIMIT_MODE SET skips its capable(CAP_SYS_RESOURCE) check: an unprivileged SET answers success',
    make: () => (req, next) => {
      const f = ioctlOf(req, 'IOMMU_OPTION');
      const r = next(req);
      if (!f || Number(f['option_id']) !== IOMMU_OPTION_RLIMIT_MODE || Number(f['op']) !== IOMMU_OPTION_OP_SET) return r;
      const res = ioctlResult(r);
      return res?.errno === EPERM ? { ok: true, result: { ...res, ret: 0, errno: 0 } } : r;
    },
  },
  {
    name: 'hw-info-length-copied',
    breaks: 'abi-hygiene',
    change: 'IOMMU_GET_HW_INFO answers data_len as the bytes it copied (the smaller of the user buffer and the driver data) instead of the driver data length',
    make: () => (req, next) => {
      const f = ioctlOf(req, 'IOMMU_GET_HW_INFO');
      const r = next(req);
      const res = f ? ioctlResult(r) : undefined;
      if (res?.errno !== 0 || !res.out) return r;
      const copied = Math.min(Number(f?.['data_len'] ?? 0), Number(res.out['data_len'] ?? 0));
      return { ok: true, result: { ...res, out: { ...res.out, data_len: copied } } };
    },
  },
  {
    name: 'destroy-ioas-leaks-a-user',
    breaks: 'lifetime',
    change: 'an IOAS a device was once attached to keeps a user after the detach: its DESTROY answers EBUSY forever',
    make: () => {
      const held = new Set<string>();
      return (req, next) => {
        if (req.op === 'reset') held.clear();
        const attach = ioctlOf(req, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') ?? ioctlOf(req, 'VFIO_DEVICE_REPLACE_IOMMUFD_PT');
        const destroy = ioctlOf(req, 'IOMMU_DESTROY');
        if (destroy && held.has(String(destroy['id']))) {
          // Past the struct checks (a DESTROY of id 0 answers ENOENT there), the id is found busy.
          const probe = ioctlResult(next(withFields(req, { ...destroy, id: 0 })));
          return probe?.errno === ENOENT ? failed(req, next, EBUSY) : next(req);
        }
        const r = next(req);
        if (attach && ioctlResult(r)?.errno === 0) held.add(String(attach['pt_id']));
        return r;
      };
    },
  },
  {
    name: 'access-pages-lookup-misses',
    breaks: 'accounting',
    change: 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES misses every other item it holds: ENOENT, and the pages stay pinned',
    make: () => {
      let n = 0;
      return (req, next) => {
        const f = ioctlOf(req, 'IOMMU_TEST_CMD');
        if (!f || Number(f['op']) !== IOMMU_TEST_OP_DESTROY_ACCESS_PAGES || n++ % 2 === 0) return next(req);
        // Past the struct checks (an item that was never handed out answers ENOENT there), the item is missed.
        const probe = ioctlResult(next(withFields(req, { ...f, destroy_access_pages: { access_pages_id: 0xffff_fff0 } })));
        return probe?.errno === ENOENT ? failed(req, next, ENOENT) : next(req);
      };
    },
  },
  {
    name: 'compat-ioas-lost-on-destroy',
    breaks: 'lifetime',
    change: 'any successful IOMMU_DESTROY clears the context\'s compat IOAS: the type1 commands and IOMMU_VFIO_IOAS GET answer ENODEV while it lives',
    make: () => {
      const lost = new Set<number>();
      return (req, next) => {
        if (req.op === 'reset') lost.clear();
        if (req.op !== 'ioctl') return next(req);
        const vfioIoas = ioctlOf(req, 'IOMMU_VFIO_IOAS');
        const type1 = typeof req.cmd === 'string' && req.cmd.startsWith('VFIO_IOMMU_');
        if (lost.has(req.fd) && (type1 || (vfioIoas && Number(vfioIoas['op']) === IOMMU_VFIO_IOAS_GET))) return failed(req, next, ENODEV);
        const r = next(req);
        const ok = ioctlResult(r)?.errno === 0;
        if (ok && ioctlOf(req, 'IOMMU_DESTROY')) lost.add(req.fd);
        if (ok && vfioIoas && Number(vfioIoas['op']) !== IOMMU_VFIO_IOAS_GET) lost.delete(req.fd);
        return r;
      };
    },
  },
  {
    name: 'allow-iovas-over-reserved',
    breaks: 'dma-confinement',
    change: 'IOAS_ALLOW_IOVAS that overlaps a reserved region answers success (the allowed list is left unchanged)',
    make: () => (req, next) => {
      const r = next(req);
      const res = ioctlOf(req, 'IOMMU_IOAS_ALLOW_IOVAS') ? ioctlResult(r) : undefined;
      return res?.errno === EADDRINUSE ? { ok: true, result: { ...res, ret: 0, errno: 0 } } : r;
    },
  },
  {
    name: 'unmap-cuts-an-area',
    breaks: 'dma-confinement',
    change: 'IOAS_UNMAP of a range that cuts an area answers success for the bytes asked (nothing is unmapped) instead of EINVAL',
    make: () => (req, next) => {
      const f = ioctlOf(req, 'IOMMU_IOAS_UNMAP');
      const r = next(req);
      const res = f ? ioctlResult(r) : undefined;
      if (res?.errno !== EINVAL || big(f?.['length']) === 0n || !res.out) return r;
      return { ok: true, result: { ...res, ret: 0, errno: 0, out: { ...res.out, length: f?.['length'] } } };
    },
  },
];

/** The reference with one answer fault: a fresh instance, its own state. */
export function answerFaultImplementation(fault: AnswerFault, profile: Profile): Implementation {
  const ref = createReferenceAdapter(profile);
  const handler = fault.make(profile);
  // The reference answers synchronously (createReferenceAdapter's handle never returns a promise).
  const next = (req: SingleRequest): Response => ref.handle(req) as Response;
  return {
    name: `answer-fault:${fault.name}`,
    version: ref.version,
    profile,
    handle: (req) => handler(req, next),
    close: () => ref.close?.(),
  };
}
