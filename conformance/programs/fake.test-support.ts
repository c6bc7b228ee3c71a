/**
 * A small in-test fake implementation of a few commands (not a model of
 * iommufd: just enough behaviour to exercise the runner, binding, id mapping
 * and diff). Its ids, fds and VAs start at configurable bases so two fakes
 * differ the way two real implementations do.
 */
import { inProcessAdapter } from '../adapter/in-process.ts';
import type { Adapter, Capabilities, Implementation, Request, Response, SingleRequest, StructValue } from '../../spec/contract/types.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';

export interface FakeOptions {
  readonly name?: string;
  readonly idBase?: number;
  readonly fdBase?: number;
  readonly vaBase?: bigint;
  /** Errno for IOMMU_DESTROY of an unknown id (the kernel: ENOENT). */
  readonly destroyMissingErrno?: number;
  /** Automatic IOVA the fake picks for a non-fixed map. */
  readonly autoIova?: bigint;
  /** Commands reported unsupported. */
  readonly unsupported?: readonly string[];
  /** Record every batch size here. */
  readonly batches?: number[];
}

const { ENOENT, EINVAL, ENOTTY } = ERRNO;

export function fakeCapabilities(o: FakeOptions): Capabilities {
  const commands: Record<string, { supported: true } | { supported: false; reason: string }> = {
    IOMMU_IOAS_ALLOC: { supported: true },
    IOMMU_DESTROY: { supported: true },
    IOMMU_IOAS_MAP: { supported: true },
  };
  for (const c of o.unsupported ?? []) commands[c] = { supported: false, reason: 'the fake does not have it' };
  const no = { supported: false, reason: 'fake' } as const;
  return {
    contract: 1,
    implementation: { name: o.name ?? 'fake', version: '0' },
    profile: '7.3',
    commands,
    testOps: {},
    ops: { open: { supported: true }, close: { supported: true }, ioctl: { supported: true }, mem_alloc: { supported: true }, kvm_create: no },
    deviceFeatures: {
      multiDeviceGroups: no,
      pasid: no,
      dirtyTracking: no,
      enforceCacheCoherency: no,
      noSnoop: no,
      hugeIova: no,
      reservedRegions: no,
    },
    iommus: [],
  };
}

export function fakeImplementation(o: FakeOptions = {}): Implementation {
  let nextId = o.idBase ?? 1;
  let nextFd = o.fdBase ?? 3;
  let nextBuf = 1;
  let va = o.vaBase ?? 0x7f0000000000n;
  const ids = new Set<number>();
  const ok = <T>(result: T): Response => ({ ok: true, result }) as unknown as Response;
  const ioctlResult = (ret: number, errno: number, out: StructValue): Response => ok({ ret, errno, out });
  return {
    name: o.name ?? 'fake',
    version: '0',
    profile: '7.3',
    handle(req: SingleRequest): Response {
      switch (req.op) {
        case 'capabilities':
          return ok(fakeCapabilities(o));
        case 'open':
          return ok({ fd: nextFd++ });
        case 'close':
          return ok({ ret: 0, errno: 0 });
        case 'mem_alloc': {
          const b = { buffer: nextBuf++, va, length: req.length };
          va += 0x100000n;
          return ok(b);
        }
        case 'ioctl': {
          if (req.arg.kind !== 'struct') return ioctlResult(-1, EINVAL, {});
          const f = req.arg.fields;
          if (req.cmd === 'IOMMU_IOAS_ALLOC') {
            const id = nextId++;
            ids.add(id);
            return ioctlResult(0, 0, { ...f, out_ioas_id: id });
          }
          if (req.cmd === 'IOMMU_DESTROY') {
            const id = Number(f['id'] ?? 0);
            if (!ids.delete(id)) return ioctlResult(-1, o.destroyMissingErrno ?? ENOENT, f);
            return ioctlResult(0, 0, f);
          }
          if (req.cmd === 'IOMMU_IOAS_MAP') {
            if (!ids.has(Number(f['ioas_id'] ?? 0))) return ioctlResult(-1, ENOENT, f);
            const fixed = (Number(f['flags'] ?? 0) & 1) !== 0;
            return ioctlResult(0, 0, { ...f, iova: fixed ? (f['iova'] ?? 0n) : (o.autoIova ?? 0x1000000n) });
          }
          return ioctlResult(-1, ENOTTY, f);
        }
        default:
          return { ok: false, error: { code: 'unsupported', message: `the fake has no ${req.op}` } };
      }
    },
  };
}

export function fakeAdapter(o: FakeOptions = {}): Adapter {
  const inner = inProcessAdapter(fakeImplementation(o), { validate: false });
  if (!o.batches) return inner;
  const batches = o.batches;
  return {
    call: (r) => inner.call(r),
    batch: (rs: readonly Request[]) => {
      batches.push(rs.length);
      return inner.batch(rs);
    },
    close: () => inner.close(),
    info: inner.info,
  };
}
