/**
 * Fail-nth over sequences of ioctls, as tools/testing/selftests/iommu/
 * iommufd_fail_nth.c does: fail-nth is armed once for the rest of a sequence,
 * the sequence stops at its first failure, everything is closed, and nothing
 * may be left pinned, charged, referenced or allocated.
 *
 * The steps are fc.Commands: the kernel's own programs (TEST_FAIL_NTH basic
 * and access_pin_domain) are fixed command lists swept over n = 1, 2, ...
 * until a run sees no injection; the property runs random sequences of the
 * same commands with fail-nth armed at a random point, and fc.modelRun
 * shrinks a failing one to the commands that matter.
 */
import { describe, expect } from 'vitest';
import fc from 'fast-check';
import { check } from '../../spec/clauses/check.ts';
import { buffer, ioctl, map, NR, P, physLeak, testCmd, unmap, withEnv, writeRanges, type Env } from '../testing/testutil.ts';
import {
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_TEST_OP_ACCESS_PAGES,
  IOMMU_TEST_OP_CREATE_ACCESS,
  IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
  IOMMU_TEST_OP_MOCK_DOMAIN,
  IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
  MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
} from '../../spec/uapi/constants.ts';

const BUFFER_SIZE = 16n * P;
const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

/** What the sequence has made so far; also the model (what each command needs). */
interface Handles {
  ioas?: number;
  buf?: bigint;
  iova?: bigint;
  stdev?: number;
  access?: number;
  item?: number;
  /** The sequence stopped at a failure (the kernel's programs return there). */
  stopped: boolean;
}
interface Real {
  readonly env: Env;
  readonly h: Handles;
}
type SeqCommand = fc.Command<Handles, Real>;

/**
 * The model becomes what the sequence holds now, handles it gave up included
 * (Object.assign alone kept a destroyed stdev in the model, so a second
 * destroy_stdev ran with no id).
 */
function syncModel(m: Handles, h: Readonly<Handles>): void {
  for (const k of Object.keys(m) as (keyof Handles)[]) if (!(k in h)) delete m[k];
  Object.assign(m, h);
}

/** A step of a sequence: its precondition, its ioctl (errno), what it makes. */
abstract class Step implements SeqCommand {
  abstract readonly name: string;
  /** Which handles it needs. */
  protected abstract needs(h: Readonly<Handles>): boolean;
  /** The ioctl; returns its (userspace) errno. */
  protected abstract act(env: Env, h: Handles): number;
  check(m: Readonly<Handles>): boolean {
    return !m.stopped && this.needs(m);
  }
  run(m: Handles, r: Real): void {
    const errno = this.act(r.env, r.h);
    if (errno) r.h.stopped = true;
    syncModel(m, r.h);
  }
  toString = (): string => this.name;
}

class IoasAlloc extends Step {
  readonly name = 'ioas_alloc';
  protected needs = (h: Readonly<Handles>): boolean => h.ioas === undefined;
  protected act(env: Env, h: Handles): number {
    const r = ioctl(env, NR.IOMMU_IOAS_ALLOC, {});
    if (!r.errno) h.ioas = r.out.num('out_ioas_id');
    return r.errno;
  }
}

class IovaRanges extends Step {
  readonly name = 'iova_ranges';
  protected needs = (h: Readonly<Handles>): boolean => h.ioas !== undefined;
  protected act = (env: Env, h: Handles): number => ioctl(env, NR.IOMMU_IOAS_IOVA_RANGES, { ioas_id: h.ioas!, num_iovas: 10, allowed_iovas: env.scratch + 8192n }).errno;
}

class AllowIovas extends Step {
  readonly name = 'allow_iovas';
  protected needs = (h: Readonly<Handles>): boolean => h.ioas !== undefined;
  protected act(env: Env, h: Handles): number {
    writeRanges(env, env.scratch + 8192n, [[16n * 1024n, BUFFER_SIZE + 16n * 1024n * 600n - 1n]]);
    return ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: h.ioas!, num_iovas: 1, allowed_iovas: env.scratch + 8192n }).errno;
  }
}

class MapStep extends Step {
  readonly name = 'map';
  protected needs = (h: Readonly<Handles>): boolean => h.ioas !== undefined && h.iova === undefined;
  protected act(env: Env, h: Handles): number {
    h.buf ??= buffer(env, Number(BUFFER_SIZE));
    const m = map(env, h.ioas!, h.buf, BUFFER_SIZE);
    if (!m.errno) h.iova = m.iova;
    return m.errno;
  }
}

class Copy extends Step {
  readonly name = 'copy';
  protected needs = (h: Readonly<Handles>): boolean => h.iova !== undefined;
  protected act = (env: Env, h: Handles): number => ioctl(env, NR.IOMMU_IOAS_COPY, { flags: RW, dst_ioas_id: h.ioas!, src_ioas_id: h.ioas!, src_iova: h.iova!, length: 160n }).errno;
}

class Unmap extends Step {
  readonly name = 'unmap';
  protected needs = (h: Readonly<Handles>): boolean => h.iova !== undefined;
  protected act = (env: Env, h: Handles): number => unmap(env, h.ioas!, h.iova!, BUFFER_SIZE).errno;
}

/** The kernel's last step of `basic`: a second unmap of the same range, whose failure is the point (ENOENT). */
class UnmapAgain extends Step {
  readonly name = 'unmap_again';
  protected needs = (h: Readonly<Handles>): boolean => h.iova !== undefined;
  protected act(env: Env, h: Handles): number {
    unmap(env, h.ioas!, h.iova!, BUFFER_SIZE);
    return 0;
  }
}

class SetTempMemoryLimit extends Step {
  readonly name = 'set_temp_memory_limit';
  protected needs = (): boolean => true;
  protected act = (env: Env): number => testCmd(env, IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 0, { 'memory_limit.limit': 32 }).errno;
}

class MockDomain extends Step {
  readonly name = 'mock_domain';
  protected needs = (h: Readonly<Handles>): boolean => h.ioas !== undefined && h.stdev === undefined;
  protected act(env: Env, h: Handles): number {
    const r = testCmd(env, IOMMU_TEST_OP_MOCK_DOMAIN, h.ioas!, {});
    if (!r.errno) h.stdev = r.out.num('mock_domain.out_stdev_id');
    return r.errno;
  }
}

class CreateAccess extends Step {
  readonly name = 'create_access';
  protected needs = (h: Readonly<Handles>): boolean => h.ioas !== undefined && h.access === undefined;
  protected act(env: Env, h: Handles): number {
    const r = testCmd(env, IOMMU_TEST_OP_CREATE_ACCESS, h.ioas!, { 'create_access.flags': MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES });
    if (!r.errno) h.access = r.out.num('create_access.out_access_fd');
    return r.errno;
  }
}

class AccessPages extends Step {
  readonly name = 'access_pages';
  protected needs = (h: Readonly<Handles>): boolean => h.access !== undefined && h.iova !== undefined && h.item === undefined;
  protected act(env: Env, h: Handles): number {
    const r = testCmd(env, IOMMU_TEST_OP_ACCESS_PAGES, h.access!, { 'access_pages.iova': h.iova!, 'access_pages.length': BUFFER_SIZE, 'access_pages.uptr': h.buf! });
    if (!r.errno) h.item = r.out.num('access_pages.out_access_pages_id');
    return r.errno;
  }
}

class DestroyAccessPages extends Step {
  readonly name = 'destroy_access_pages';
  protected needs = (h: Readonly<Handles>): boolean => h.item !== undefined;
  protected act(env: Env, h: Handles): number {
    const errno = testCmd(env, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, h.access!, { 'destroy_access_pages.access_pages_id': h.item! }).errno;
    if (!errno) delete h.item;
    return errno;
  }
}

class CloseAccess extends Step {
  readonly name = 'close_access';
  protected needs = (h: Readonly<Handles>): boolean => h.access !== undefined && h.item === undefined;
  protected act(env: Env, h: Handles): number {
    const rc = env.proc.fds.close(h.access!);
    delete h.access;
    return -rc;
  }
}

class DestroyStdev extends Step {
  readonly name = 'destroy_stdev';
  protected needs = (h: Readonly<Handles>): boolean => h.stdev !== undefined;
  protected act(env: Env, h: Handles): number {
    const errno = ioctl(env, NR.IOMMU_DESTROY, { id: h.stdev! }).errno;
    if (!errno) delete h.stdev;
    return errno;
  }
}

/** Arm fail-nth n for the rest of the sequence (the kernel's fail_nth_enable). */
class ArmFailNth implements SeqCommand {
  constructor(readonly n: number) {}
  check = (m: Readonly<Handles>): boolean => !m.stopped;
  run(_m: Handles, r: Real): void {
    r.env.proc.faults.arm(this.n);
  }
  toString = (): string => `fail_nth(${this.n})`;
}

/**
 * Runs a sequence on a fresh context (after `prefix`, run as plain steps),
 * closes everything and checks that nothing is left; returns whether an
 * injection happened.
 */
function runSequence(cmds: Iterable<SeqCommand>, prefix: readonly SeqCommand[] = []): boolean {
  return withEnv((env) => {
    const h: Handles = { stopped: false };
    const model: Handles = { stopped: false };
    for (const c of prefix) if (c.check(model)) c.run(model, { env, h });
    fc.modelRun(() => ({ model, real: { env, h } }), cmds);
    const injected = env.proc.faults.injected;
    env.proc.faults.disarm();
    env.proc.fds.closeAll();
    expect(env.ctx.warnings).toEqual([]);
    expect(env.file.released).toBe(true);
    expect(env.proc.totalPins).toBe(0);
    expect(env.proc.pinnedVm).toBe(0);
    expect(env.proc.user.lockedVm).toBe(0);
    expect(env.proc.lockedVm).toBe(0);
    expect(physLeak(env)).toBe('');
    return injected;
  });
}

/** The kernel's TEST_FAIL_NTH loop: n = 1, 2, ... until a run sees no injection; the number of injections. */
function sweep(build: (n: number) => SeqCommand[]): number {
  for (let n = 1; n <= 400; n++) if (!runSequence(build(n))) return n - 1;
  throw new Error('did not converge');
}

const stepArbs: fc.Arbitrary<SeqCommand>[] = [
  fc.constant(new IoasAlloc()),
  fc.constant(new IovaRanges()),
  fc.constant(new AllowIovas()),
  fc.constant(new MapStep()),
  fc.constant(new Copy()),
  fc.constant(new Unmap()),
  fc.constant(new SetTempMemoryLimit()),
  fc.constant(new MockDomain()),
  fc.constant(new CreateAccess()),
  fc.constant(new AccessPages()),
  fc.constant(new DestroyAccessPages()),
  fc.constant(new CloseAccess()),
  fc.constant(new DestroyStdev()),
  fc.integer({ min: 1, max: 40 }).map((n) => new ArmFailNth(n)),
];

describe('fail-nth sequences (iommufd_fail_nth.c)', () => {
  check('ref.fail_nth.seq-basic', () => {
    const injected = sweep((n) => [new ArmFailNth(n), new IoasAlloc(), new IovaRanges(), new AllowIovas(), new MapStep(), new Copy(), new Unmap(), new UnmapAgain()]);
    expect(injected).toBeGreaterThanOrEqual(8);
  });

  check('ref.fail_nth.seq-access-pin-domain', () => {
    // fail-nth is enabled after the setup, as in the kernel test.
    const setup = (): SeqCommand[] => [new IoasAlloc(), new SetTempMemoryLimit(), new MockDomain(), new MapStep(), new CreateAccess()];
    const injected = sweep((n) => [...setup(), new ArmFailNth(n), new AccessPages(), new DestroyAccessPages(), new CloseAccess(), new DestroyStdev()]);
    expect(injected).toBeGreaterThanOrEqual(3);
  });

  check('ref.fail_nth.random-sequences-leave-nothing', () => {
    // Start from an IOAS, so most sequences reach the interesting steps.
    fc.assert(fc.property(fc.commands(stepArbs, { maxCommands: 16 }), (cmds) => void runSequence(cmds, [new IoasAlloc()])));
  });
});
