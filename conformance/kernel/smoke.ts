/**
 * The kernel lane's end-to-end smoke scenario, through any Adapter that serves
 * IOMMU_TEST_CMD (the kernel lanes; the reference once it has the mock ops):
 * open /dev/iommu → IOAS_ALLOC → MOCK_DOMAIN → IOAS_MAP of a mem_alloc'd
 * buffer → MD_CHECK_MAP → IOAS_UNMAP → MD_CHECK_MAP again (now EINVAL) →
 * IOMMU_DESTROY (busy IOAS, then device, then IOAS) → close.
 * Each step states its expected outcome; the scenario stops at the first
 * step whose prerequisite failed.
 */
import type { Adapter, IoctlResult, Request, Response, StructValue } from '../../spec/contract/types.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';
import {
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_TEST_OP_MD_CHECK_MAP,
  IOMMU_TEST_OP_MOCK_DOMAIN,
  MOCK_APERTURE_START as MOCK_APERTURE_START_NUMBER,
} from '../../spec/uapi/constants.ts';

const { EINVAL, EBUSY, ENOENT } = ERRNO;
const MOCK_APERTURE_START = BigInt(MOCK_APERTURE_START_NUMBER);

export interface SmokeStep {
  readonly step: string;
  readonly ok: boolean;
  readonly detail: string;
}

class SmokeFailure extends Error {}

function describe(r: Response): string {
  if (!r.ok) return `protocol error ${r.error.code}: ${r.error.message}${r.error.field ? ` (field ${r.error.field})` : ''}`;
  return JSON.stringify(r.result, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `<${v.length} bytes>` : v));
}

/** Runs the scenario; `steps` has one entry per step tried, each also given to `onStep` as it happens. */
export async function runSmokeScenario(adapter: Adapter, pageSize = 4096, onStep?: (step: SmokeStep) => void): Promise<SmokeStep[]> {
  const steps: SmokeStep[] = [];
  const record = (step: string, ok: boolean, detail: string): void => {
    steps.push({ step, ok, detail });
    onStep?.({ step, ok, detail });
    if (!ok) throw new SmokeFailure(step);
  };
  const ok = async (step: string, req: Request): Promise<unknown> => {
    const r = await adapter.call(req);
    record(step, r.ok, describe(r));
    return r.ok ? r.result : undefined;
  };
  const ioctl = async (step: string, fd: number, cmd: string, fields: StructValue, errno: number): Promise<IoctlResult> => {
    const r = await adapter.call({ op: 'ioctl', fd, cmd, arg: { kind: 'struct', fields } });
    if (!r.ok) {
      record(step, false, describe(r));
      throw new SmokeFailure(step);
    }
    const res = r.result as IoctlResult;
    const expected = errno === 0 ? 'ret 0' : `errno ${errno}`;
    record(step, res.errno === errno && (errno !== 0 || res.ret === 0), `expected ${expected}, got ret ${res.ret} errno ${res.errno}`);
    return res;
  };
  const u32 = (res: IoctlResult, path: readonly string[]): number => {
    let v: unknown = res.out;
    for (const k of path) v = (v as StructValue | undefined)?.[k];
    if (typeof v !== 'number') record(`result has ${path.join('.')}`, false, `got ${String(v)}`);
    return v as number;
  };

  try {
    const opened = (await ok('open /dev/iommu', { op: 'open', node: 'iommu' })) as { fd: number; errno?: number };
    record('open returned an fd', opened.fd >= 0, `fd ${opened.fd} errno ${opened.errno ?? 0}`);
    const fd = opened.fd;
    const ioasRes = await ioctl('IOMMU_IOAS_ALLOC', fd, 'IOMMU_IOAS_ALLOC', {}, 0);
    const ioas = u32(ioasRes, ['out_ioas_id']);
    record('IOAS id is non-zero', ioas !== 0, `ioas ${ioas}`);
    const mock = await ioctl('IOMMU_TEST_OP_MOCK_DOMAIN', fd, 'IOMMU_TEST_CMD', { op: IOMMU_TEST_OP_MOCK_DOMAIN, id: ioas, mock_domain: {} }, 0);
    const stdev = u32(mock, ['mock_domain', 'out_stdev_id']);
    const hwpt = u32(mock, ['mock_domain', 'out_hwpt_id']);
    record('mock device and hwpt ids', stdev !== 0 && hwpt !== 0, `stdev ${stdev} hwpt ${hwpt}`);
    const length = 4 * pageSize;
    const buf = (await ok('mem_alloc', { op: 'mem_alloc', length })) as { buffer: number; va: bigint };
    await ok('mem_write', { op: 'mem_write', buffer: buf.buffer, offset: 0, data: new Uint8Array(length).fill(0xa5) });
    const iova = MOCK_APERTURE_START;
    const flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;
    await ioctl('IOMMU_IOAS_MAP', fd, 'IOMMU_IOAS_MAP', { flags, ioas_id: ioas, user_va: buf.va, length: BigInt(length), iova }, 0);
    const check = { op: IOMMU_TEST_OP_MD_CHECK_MAP, id: hwpt, check_map: { iova, length: BigInt(length), uptr: buf.va } };
    await ioctl('IOMMU_TEST_OP_MD_CHECK_MAP (mapped)', fd, 'IOMMU_TEST_CMD', check, 0);
    const unmap = await ioctl('IOMMU_IOAS_UNMAP', fd, 'IOMMU_IOAS_UNMAP', { ioas_id: ioas, iova, length: BigInt(length) }, 0);
    record('IOAS_UNMAP reports the bytes unmapped', unmap.out?.['length'] === BigInt(length), `length ${String(unmap.out?.['length'])}`);
    await ioctl('IOMMU_TEST_OP_MD_CHECK_MAP (unmapped: EINVAL)', fd, 'IOMMU_TEST_CMD', check, EINVAL);
    await ioctl('IOMMU_DESTROY ioas in use (EBUSY)', fd, 'IOMMU_DESTROY', { id: ioas }, EBUSY);
    await ioctl('IOMMU_DESTROY mock device', fd, 'IOMMU_DESTROY', { id: stdev }, 0);
    await ioctl('IOMMU_DESTROY ioas', fd, 'IOMMU_DESTROY', { id: ioas }, 0);
    await ioctl('IOMMU_DESTROY ioas again (ENOENT)', fd, 'IOMMU_DESTROY', { id: ioas }, ENOENT);
    const closed = (await ok('close', { op: 'close', fd })) as { ret: number };
    record('close returned 0', closed.ret === 0, `ret ${closed.ret}`);
  } catch (e) {
    if (!(e instanceof SmokeFailure)) throw e;
  }
  return steps;
}
