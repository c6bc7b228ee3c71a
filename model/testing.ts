/**
 * A small scenario language for the machines' unit tests: contract requests,
 * the answers the kernel gives to them, and the verdict the oracle must reach.
 * The answers are Linux's, taken from the kernel source and the selftests the
 * corpus ports (each test names the kernel function that decides).
 */
import { expect } from 'vitest';
import type { Response, SingleRequest, StructValue } from '../spec/contract/types.ts';
import { ERRNO } from '../spec/uapi/errno.ts';
import { enumValue, testOpByName } from '../spec/uapi/index.ts';
import type { Profile } from '../spec/uapi/profiles.ts';
import { createLifecycleOracle, type LifecycleOracle, type Verdict } from './oracle.ts';
import { stepper } from './machines/index.ts';

export const K = (name: string, profile: Profile = '7.3'): number => {
  const v = enumValue(profile, name) ?? testOpByName(profile, name)?.value;
  if (v === undefined) throw new Error(`no constant ${name} in ${profile}`);
  return v;
};

export const ioctl = (fd: number, cmd: string, fields: StructValue = {}): SingleRequest => ({ op: 'ioctl', fd, cmd, arg: { kind: 'struct', fields } });
export const testOp = (fd: number, op: string, fields: StructValue = {}, profile: Profile = '7.3'): SingleRequest => ioctl(fd, 'IOMMU_TEST_CMD', { op: K(op, profile), ...fields });

export const OK = (out: StructValue = {}, ret = 0): Response => ({ ok: true, result: { ret, errno: 0, out } });
export const FAIL = (errno: keyof typeof ERRNO, out: StructValue = {}): Response => ({ ok: true, result: { ret: -1, errno: ERRNO[errno], out } });
export const RESULT = (result: Record<string, unknown>): Response => ({ ok: true, result: result as never });
/** An environment op (close, kvm_vfio_add, …) that failed with this errno. */
export const OP_FAIL = (errno: keyof typeof ERRNO): Response => RESULT({ ret: -1, errno: ERRNO[errno] });

export interface Scenario {
  readonly oracle: LifecycleOracle;
  /** Runs one step and asserts its verdict (default: ok). */
  step(req: SingleRequest, res: Response, want?: Verdict['kind']): Verdict;
  /** The active states of an object's machine, by id in the iommufd opened as `ctxKey` (1 for the first). */
  states(id: number, ctxKey?: number): string[];
}

export function scenario(profile: Profile, iommus?: readonly { name: string; dirty: boolean; coherent: boolean; format?: string }[]): Scenario {
  const caps = iommus ? ({ iommus: iommus.map((i) => ({ name: i.name, dirtyTracking: i.dirty, enforceCacheCoherency: i.coherent, format: i.format ?? 'vtd-ss' })) } as never) : undefined;
  const oracle = createLifecycleOracle(profile, caps ? { capabilities: caps } : {});
  let n = 0;
  return {
    oracle,
    step(req, res, want = 'ok') {
      n++;
      const v = oracle.check(req, res);
      const what = v.kind === 'disagree' ? v.message : v.kind === 'open' ? v.reason : 'ok';
      expect(v.kind, `step ${n} ${(req as { cmd?: unknown }).cmd ?? req.op}: ${what}`).toBe(want);
      return v;
    },
    states(id, ctxKey = 1) {
      const o = oracle.state.ctxs[ctxKey]?.objects[id];
      if (!o) return ['(none)'];
      if (o.kind === 'device' || o.kind === 'selftest') {
        const d = oracle.state.devs[o.dev as string];
        return d ? stepper('device').leaves(d.snap) : ['(none)'];
      }
      return o.snap ? stepper(o.kind).leaves(o.snap) : [o.kind];
    },
  };
}

/** The IOAS mockWorld allocates (the first object id of a fresh iommufd). */
const MOCK_WORLD_IOAS = 1;

/** open /dev/iommu (fd 3), IOMMU_IOAS_ALLOC (1), MOCK_DOMAIN on it (stdev 2, idev 3, hwpt 4). */
export function mockWorld(profile: Profile = '7.3', devFlags = 0): Scenario {
  const s = scenario(profile);
  s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
  s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
  if (devFlags) s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', { id: MOCK_WORLD_IOAS, mock_domain_flags: { dev_flags: devFlags } }, profile), OK({ mock_domain_flags: { out_stdev_id: 2, out_idev_id: 3, out_hwpt_id: 4 } }));
  else s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN', { id: MOCK_WORLD_IOAS, mock_domain: {} }, profile), OK({ mock_domain: { out_stdev_id: 2, out_idev_id: 3, out_hwpt_id: 4 } }));
  return s;
}
