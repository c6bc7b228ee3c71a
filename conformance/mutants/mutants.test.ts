/**
 * The mutant catalogue: well-formed (clauses exist, names registered), applied
 * without touching anything shared (the oracle's reference answers as a
 * pristine one, no prototype or export changed). The kills and replays
 * through the CLI are cli/mutants.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Adapter, Request, Response } from '../../spec/contract/types.ts';
import { loadClauses } from '../../spec/clauses/registry.ts';
import { registeredImplementations } from '../adapter/open.ts';
import { inProcessAdapter } from '../adapter/in-process.ts';
import { openReference } from '../suite/reference.ts';
import { IOMMUFD_IOCTL_HANDLERS } from '../../impl/iommufd/main.ts';
import { Machine, IommuDomain } from '../../impl/platform/index.ts';
import { IommuInstance as HwIommuInstance } from '../../impl/iommu/instance.ts';
import { ObjectTable } from '../../impl/iommufd/object.ts';
import { IommufdCtx, IommufdGroup } from '../../impl/iommufd/iommufd_private.ts';
import { IommufdAccess } from '../../impl/iommufd/access.ts';
import { FdTable, KFile } from '../../impl/process/file.ts';
import { Process } from '../../impl/process/process.ts';
import * as drivers from '../../impl/platform/drivers.ts';
import { MUTANTS, mutantByName } from './catalogue.ts';
import { MUTANT_PREFIX, openMutant } from './register.ts';
import { patchOwn } from './harness.ts';

/** Every own property of the prototypes (and static members) a mutant could reach, by identity. */
function snapshot(): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const classes = { Machine, IommuDomain, HwIommuInstance, ObjectTable, IommufdCtx, IommufdGroup, IommufdAccess, FdTable, KFile, Process };
  for (const [name, C] of Object.entries(classes)) {
    for (const k of Object.getOwnPropertyNames(C.prototype)) out.set(`${name}.prototype.${k}`, Object.getOwnPropertyDescriptor(C.prototype, k));
  }
  for (const [k, v] of Object.entries(IOMMUFD_IOCTL_HANDLERS)) out.set(`IOMMUFD_IOCTL_HANDLERS.${k}`, v);
  for (const [k, v] of Object.entries(drivers)) out.set(`drivers.${k}`, v);
  return out;
}

function sameSnapshot(a: Map<string, unknown>, b: Map<string, unknown>): string[] {
  const diff: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(k) as PropertyDescriptor | undefined;
    const y = b.get(k) as PropertyDescriptor | undefined;
    const same = x && y && typeof x === 'object' && 'value' in x ? x.value === y.value && x.get === y.get && x.set === y.set : x === y || (x?.get === y?.get && x?.set === y?.set && x?.value === y?.value);
    if (!same) diff.push(k);
  }
  return diff;
}

/**
 * A scenario that reaches every hook kind: devices in one group bound to two
 * contexts, an IOAS with a read-only area, DMA through the IOTLB, unmap, a
 * destroy of a referenced IOAS, KVM with a non-coherent device.
 */
async function scenario(a: Adapter): Promise<unknown[]> {
  const out: unknown[] = [];
  const call = async (r: Request): Promise<Response> => {
    const res = await a.call(r);
    out.push(JSON.parse(JSON.stringify(res, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))));
    return res;
  };
  const r = <T>(res: Response): T => (res.ok ? (res.result as T) : ({} as T));
  const caps = r<{ iommus: { name: string; enforceCacheCoherency?: boolean }[] }>(await call({ op: 'capabilities' }));
  const iommu = caps.iommus.find((i) => i.name.startsWith('smmu'))?.name ?? (caps.iommus.find((i) => i.name !== 'mock')?.name as string);
  const d1 = r<{ device: number; group: number }>(await call({ op: 'device_create', spec: { iommu } } as Request));
  const d2 = r<{ device: number }>(await call({ op: 'device_create', spec: { iommu, group: d1.group } } as Request));
  const c1 = r<{ fd: number }>(await call({ op: 'open' } as Request)).fd;
  const c2 = r<{ fd: number }>(await call({ op: 'open' } as Request)).fd;
  const f1 = r<{ fd: number }>(await call({ op: 'open_device', device: d1.device } as Request)).fd;
  const f2 = r<{ fd: number }>(await call({ op: 'open_device', device: d2.device } as Request)).fd;
  await call({ op: 'ioctl', fd: f1, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { kind: 'struct', fields: { flags: 0, iommufd: c1 } } } as Request);
  await call({ op: 'ioctl', fd: f2, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { kind: 'struct', fields: { flags: 0, iommufd: c2 } } } as Request);
  const ioas = r<{ out: { out_ioas_id: number } }>(await call({ op: 'ioctl', fd: c1, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: { flags: 0 } } } as Request)).out?.out_ioas_id;
  const buf = r<{ buffer: number; va: bigint }>(await call({ op: 'mem_alloc', length: 4 * 4096 } as Request));
  await call({ op: 'ioctl', fd: f1, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { kind: 'struct', fields: { flags: 0, pt_id: ioas } } } as Request);
  await call({ op: 'ioctl', fd: c1, cmd: 'IOMMU_IOAS_MAP', arg: { kind: 'struct', fields: { flags: 1 | 4, ioas_id: ioas, user_va: buf.va, length: 4n * 4096n, iova: 0x100000n } } } as Request);
  await call({ op: 'dma', device: d1.device, iova: 0x100000n, dir: 'write', data: new Uint8Array([1, 2, 3]) } as Request);
  await call({ op: 'dma', device: d1.device, iova: 0x103000n, dir: 'read', length: 8 } as Request);
  await call({ op: 'ioctl', fd: c1, cmd: 'IOMMU_IOAS_UNMAP', arg: { kind: 'struct', fields: { ioas_id: ioas, iova: 0x100000n, length: 4n * 4096n } } } as Request);
  await call({ op: 'dma', device: d1.device, iova: 0x103000n, dir: 'read', length: 8 } as Request);
  await call({ op: 'ioctl', fd: c1, cmd: 'IOMMU_DESTROY', arg: { kind: 'struct', fields: { id: ioas } } } as Request);
  const vm = r<{ vm: number }>(await call({ op: 'kvm_create' } as Request)).vm;
  await call({ op: 'kvm_vfio_add', vm, fd: f1 } as Request);
  await call({ op: 'kvm_state', vm } as Request);
  await call({ op: 'kvm_vfio_del', vm, fd: f1 } as Request);
  await call({ op: 'kvm_state', vm } as Request);
  return out;
}

describe('the mutant catalogue', () => {
  it('has at least 25 mutants, uniquely named, each mapped to existing clauses and a bug class', async () => {
    expect(MUTANTS.length).toBeGreaterThanOrEqual(25);
    expect(new Set(MUTANTS.map((m) => m.name)).size).toBe(MUTANTS.length);
    const ids = new Set((await loadClauses()).map((c) => c.id));
    for (const m of MUTANTS) {
      expect(m.clauses.length, m.name).toBeGreaterThan(0);
      for (const c of m.clauses) expect(ids.has(c), `${m.name}: clause ${c}`).toBe(true);
      expect(m.change.length, m.name).toBeGreaterThan(20);
      expect(m.bugClass.length, m.name).toBeGreaterThan(20);
      expect(m.security, m.name).toBe(['isolation', 'confinement', 'coherency'].includes(m.class));
    }
    // Each bug class the issue lists is in the catalogue.
    for (const name of ['group-owner-unchecked', 'group-split-across-hwpts', 'iotlb-not-flushed-on-unmap', 'unmap-stale-last-pte', 'write-permission-ignored', 'area-map-past-last-byte', 'enforcing-accepts-noncoherent', 'kvm-add-ignores-coherency', 'kvm-del-not-rederived', 'destroy-ignores-users', 'id-reused-while-referenced', 'pin-leaked-on-map-error', 'access-not-told-to-unpin', 'map-reserved-ignored', 'map-ioas-before-flags', 'map-missing-rw-check', 'unmap-error-reported-as-success', 'alloc-iova-align-overflow']) {
      expect(mutantByName(name), name).toBeDefined();
    }
  });

  it('registers every mutant as mutant:<name> for --impl', () => {
    const names = new Set(registeredImplementations().map((r) => r.name));
    for (const m of MUTANTS) expect(names.has(`${MUTANT_PREFIX}${m.name}`), m.name).toBe(true);
  });

  it('refuses to patch a prototype', () => {
    expect(() => patchOwn(Machine.prototype, 'dma', (f) => f)).toThrow(/prototype/);
  });
});

describe('mutants never reach the oracle’s reference', () => {
  let before: Map<string, unknown>;
  let pristine: unknown[];
  beforeAll(async () => {
    before = snapshot();
    const ref = await openReference('7.3');
    pristine = await scenario(inProcessAdapter(ref.implementation));
    await ref.close();
  });

  it('every mutant answers the scenario, and no prototype or shared export changed; the reference still answers as a pristine one', async () => {
    let differs = 0;
    for (const m of MUTANTS) {
      const a = openMutant(m, '7.3');
      const answers = await scenario(a);
      await a.close().catch(() => undefined); // a mutant may trip the reference's own refcount WARNs on release
      if (JSON.stringify(answers) !== JSON.stringify(pristine)) differs++;
      // The oracle's reference, opened after the mutant ran in the same process, answers as before.
      const ref = await openReference('7.3');
      expect(await scenario(inProcessAdapter(ref.implementation)), `reference after ${m.name}`).toEqual(pristine);
      await ref.close();
    }
    expect(sameSnapshot(before, snapshot())).toEqual([]);
    // The scenario reaches most faults: the mutants are live in this very process.
    expect(differs).toBeGreaterThanOrEqual(8);
  }, 120_000);
});
