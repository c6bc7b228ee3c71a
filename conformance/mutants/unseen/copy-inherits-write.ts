/**
 * C9 — copy-inherits-write — an IOMMU_IOAS_COPY that clones the source area's
 * permissions instead of applying the ones the caller asked for.
 *
 * What real code does: the copy shares the source's pinned pages, but the new
 * mapping's IOMMU permissions come from the command's own flags
 * (drivers/iommu/iommufd/ioas.c, iommufd_ioas_copy):
 *
 *         if (!(cmd->flags &
 *               (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE)))
 *                 return -EINVAL;
 *         ...
 *         rc = iopt_get_pages(&src_ioas->iopt, cmd->src_iova, cmd->length, &pages_list);
 *         ...
 *         rc = iopt_map_pages(&dst_ioas->iopt, &pages_list, cmd->length,
 *                             &iova, conv_iommu_prot(cmd->flags), flags);
 *
 * so copying a read/write area with only IOMMU_IOAS_MAP_READABLE gives a
 * read-only mapping at the destination (the usual way to hand a device a
 * read-only view of memory another IOAS maps writable).
 *
 * The bug: the emulation validates the caller's flags as above, but then
 * implements COPY by duplicating the source area's descriptor — its
 * iommu_prot included — and sets only the new IOVA;
 * the WRITEABLE bit of the source survives even when the caller did not ask
 * for it. Applied as: a COPY whose every source area is writable is issued to
 * the reference with IOMMU_IOAS_MAP_WRITEABLE added (the argument the caller
 * sees keeps its own flags), so the destination really is writable for the
 * rest of its life, and copies of it inherit that again.
 *
 * Consequence: DMA confinement — a device attached to the destination IOAS
 * can write memory the VMM meant to expose read-only to it (e.g. guest ROM or
 * a shared, read-only buffer also mapped writable elsewhere).
 */
import type { Implementation, Profile, Response, SingleRequest, IoctlResult, StructValue } from '../../../spec/contract/types.ts';
import { createReferenceAdapter } from '../../../impl/adapter/adapter.ts';
import { resolveCommand } from '../../../spec/abi/arg.ts';
import { decodeStruct } from '../../../spec/abi/codec.ts';
import { structLayout } from '../../../spec/uapi/layout.ts';
import { getU32, setU32 } from '../../../spec/abi/le.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../../spec/uapi/constants.ts';

interface Area {
  readonly iova: bigint;
  readonly length: bigint;
  readonly writable: boolean;
}

const ULONG_MAX = (1n << 64n) - 1n;

export function createAdapter(profile: Profile): Implementation {
  const ref = createReferenceAdapter(profile);
  const call = (r: SingleRequest): Response => ref.handle(r) as Response;
  /** `${fd}:${ioas}` → the areas as mapped (their real permission). */
  let areas = new Map<string, Area[]>();

  const big = (v: unknown): bigint => (typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(v) : 0n);
  const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : 0);
  const fieldsOf = (req: Extract<SingleRequest, { op: 'ioctl' }>, struct: string): StructValue | undefined => {
    if (req.arg.kind === 'struct') return req.arg.fields;
    if (req.arg.kind === 'raw') {
      try {
        return decodeStruct(profile, struct, req.arg.bytes) as StructValue;
      } catch {
        return undefined;
      }
    }
    return undefined;
  };
  const outOf = (res: IoctlResult, struct: string): StructValue | undefined => {
    if (res.out) return res.out;
    if (!res.bytes) return undefined;
    try {
      return decodeStruct(profile, struct, res.bytes) as StructValue;
    } catch {
      return undefined;
    }
  };
  const okIoctl = (r: Response): r is { ok: true; result: IoctlResult } => r.ok && (r.result as IoctlResult).ret >= 0;
  const add = (key: string, a: Area): void => {
    const l = areas.get(key) ?? [];
    l.push(a);
    areas.set(key, l);
  };

  /** Whether every byte of [iova, iova+length) lies in writable areas of the source. */
  const srcWritable = (key: string, iova: bigint, length: bigint): boolean => {
    if (length <= 0n) return false;
    const l = (areas.get(key) ?? []).filter((a) => a.iova < iova + length && a.iova + a.length > iova).sort((a, b) => (a.iova < b.iova ? -1 : 1));
    let at = iova;
    for (const a of l) {
      if (a.iova > at || !a.writable) return false;
      at = a.iova + a.length;
      if (at >= iova + length) return true;
    }
    return false;
  };

  const copy = (req: Extract<SingleRequest, { op: 'ioctl' }>, struct: string): Response => {
    const f = fieldsOf(req, struct);
    if (!f) return call(req);
    const flags = num(f.flags);
    const length = big(f.length);
    let sent = req;
    let patched = false;
    // The caller's flags are validated as the kernel does first (EOPNOTSUPP / EINVAL stay); only the prot is cloned.
    const valid = (flags & ~(IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE)) === 0 && (flags & IOMMU_IOAS_MAP_READABLE) !== 0;
    if (valid && !(flags & IOMMU_IOAS_MAP_WRITEABLE) && srcWritable(`${req.fd}:${num(f.src_ioas_id)}`, big(f.src_iova), length)) {
      // THE BUG: the source area's iommu_prot is cloned.
      const nf = flags | IOMMU_IOAS_MAP_WRITEABLE;
      if (req.arg.kind === 'struct') {
        sent = { ...req, arg: { ...req.arg, fields: { ...req.arg.fields, flags: nf } } };
        patched = true;
      } else if (req.arg.kind === 'raw') {
        const off = structLayout(profile, struct)?.rows.find((r) => r.path === 'flags')?.offset;
        if (off !== undefined && req.arg.bytes.length >= off + 4) {
          const b = req.arg.bytes.slice();
          setU32(b, off, nf);
          sent = { ...req, arg: { ...req.arg, bytes: b } };
          patched = true;
        }
      }
    }
    const r = call(sent);
    if (!r.ok) return r;
    let res = r.result as IoctlResult;
    if (patched) {
      const off = structLayout(profile, struct)?.rows.find((x) => x.path === 'flags')?.offset;
      const bytes = res.bytes ? res.bytes.slice() : undefined;
      if (bytes && off !== undefined && bytes.length >= off + 4 && getU32(bytes, off) === (flags | IOMMU_IOAS_MAP_WRITEABLE)) setU32(bytes, off, flags);
      res = { ...res, ...(bytes ? { bytes } : {}), ...(res.out ? { out: { ...res.out, flags } } : {}) };
    }
    if (res.ret >= 0) {
      const o = outOf(res, struct);
      if (o) add(`${req.fd}:${num(f.dst_ioas_id)}`, { iova: big(o.dst_iova), length, writable: patched || !!(flags & IOMMU_IOAS_MAP_WRITEABLE) });
    }
    return { ok: true, result: res };
  };

  return {
    name: 'copy-inherits-write',
    version: '0.1.0',
    profile,
    handle(req: SingleRequest): Response {
      switch (req.op) {
        case 'reset':
          areas = new Map();
          return call(req);
        case 'close':
          for (const k of [...areas.keys()]) if (k.startsWith(`${req.fd}:`)) areas.delete(k);
          return call(req);
        case 'ioctl': {
          const c = resolveCommand(profile, req.cmd);
          if (!c?.struct) return call(req);
          switch (c.name) {
            case 'IOMMU_IOAS_COPY':
              return copy(req, c.struct);
            case 'IOMMU_IOAS_MAP': {
              const r = call(req);
              if (okIoctl(r)) {
                const f = fieldsOf(req, c.struct);
                const o = outOf(r.result, c.struct);
                if (f && o) add(`${req.fd}:${num(f.ioas_id)}`, { iova: big(o.iova), length: big(f.length), writable: !!(num(f.flags) & IOMMU_IOAS_MAP_WRITEABLE) });
              }
              return r;
            }
            case 'IOMMU_IOAS_UNMAP': {
              const r = call(req);
              const f = fieldsOf(req, c.struct);
              if (okIoctl(r) && f) {
                const key = `${req.fd}:${num(f.ioas_id)}`;
                const start = big(f.iova);
                const last = big(f.length) === ULONG_MAX && start === 0n ? ULONG_MAX : start + big(f.length) - 1n;
                areas.set(key, (areas.get(key) ?? []).filter((a) => a.iova + a.length - 1n < start || a.iova > last));
              }
              return r;
            }
            case 'IOMMU_DESTROY': {
              const r = call(req);
              const f = fieldsOf(req, c.struct);
              if (okIoctl(r) && f) areas.delete(`${req.fd}:${num(f.id)}`);
              return r;
            }
            default:
              return call(req);
          }
        }
        default:
          return call(req);
      }
    },
    close: () => ref.close?.(),
  };
}
