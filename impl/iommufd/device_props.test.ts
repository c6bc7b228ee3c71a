/**
 * Random attach / replace / detach / HWPT alloc / destroy / map / unmap
 * sequences over devices in shared and single groups behind several IOMMU
 * units, checking after every step the invariants of uAPI digest §7:
 *   I6  every paging HWPT's page table maps exactly its IOAS's areas, onto the
 *       user pages behind them (and device DMA reads those bytes);
 *   I7  the attached devices of a group all use the group's HWPT; the group has
 *       a HWPT iff some device of it is attached; the hardware group is on
 *       that HWPT's domain, else blocked;
 *   I8  an automatic HWPT exists iff some device is attached to it; every
 *       HWPT's users = 1 + attached devices;
 *   I11 a failed step leaves everything unchanged (except the kernel's
 *       documented same-IOAS replace quirk, see device.ts).
 */
import { describe, expect } from 'vitest';
import fc from 'fast-check';
import { check } from '../../spec/clauses/check.ts';
import { buffer, ioasAlloc, map, newEnv, releaseEnv, unmap, type Env } from '../testing/testutil.ts';
import { destroy, hwptAlloc, machine, openDev, snapshot, vfioAttach, vfioBind, vfioDetach } from '../testing/devtestutil.ts';
import type { IommufdHwptPaging } from './iommufd_private.ts';
import type { VfioDeviceFile } from './vfio_cdev.ts';
import { hwLookup } from '../platform/hw.ts';

type Op =
  | { kind: 'attach'; dev: number; target: number }
  | { kind: 'detach'; dev: number }
  | { kind: 'alloc'; dev: number; ioas: number }
  | { kind: 'destroy'; hwpt: number }
  | { kind: 'map'; ioas: number; slot: number }
  | { kind: 'unmap'; ioas: number; slot: number };

const NDEV = 5;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('attach' as const), dev: fc.nat(NDEV - 1), target: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('detach' as const), dev: fc.nat(NDEV - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('alloc' as const), dev: fc.nat(NDEV - 1), ioas: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('destroy' as const), hwpt: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('map' as const), ioas: fc.nat(1), slot: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unmap' as const), ioas: fc.nat(1), slot: fc.nat(3) }) },
);

interface World {
  env: Env;
  devs: { fd: number; device: number }[];
  ioas: number[];
  manual: number[];
  /** per IOAS: slot -> user VA mapped at slotIova(slot) */
  maps: Map<number, bigint>[];
  buf: bigint;
}

/** Inside every unit's aperture (mock: [2^24, 2^31)). */
const slotIova = (slot: number): bigint => 0x10000000n + BigInt(slot) * 0x100000n;

function setup(): World {
  const env = newEnv('6.12');
  const m = machine(env);
  const specs = [{ iommu: 'vtd0' }, { iommu: 'vtd0', reservedRegions: [{ start: 0x20000000n, last: 0x2000ffffn }] }, { iommu: 'vtd1' }, { iommu: 'smmu0' }, { iommu: 'mock' }];
  const devs: { fd: number; device: number }[] = [];
  let group: number | undefined;
  for (const [i, spec] of specs.entries()) {
    const c = m.deviceCreate(i === 1 ? { ...spec, group } : spec);
    if (!c.ok) throw new Error(c.message);
    if (i === 0) group = c.group;
    devs.push({ device: c.device, fd: openDev(env, c.device) });
  }
  for (const d of devs) expect(vfioBind(env, d.fd, env.fd).errno).toBe(0);
  const buf = buffer(env, 4 * 8192);
  env.proc.copyToUser(buf, Uint8Array.from({ length: 4 * 8192 }, (_, i) => (i * 13 + 7) & 0xff));
  return { env, devs, ioas: [ioasAlloc(env), ioasAlloc(env)], manual: [], maps: [new Map(), new Map()], buf };
}

function step(w: World, op: Op): { errno: number; sameIoasReplace: boolean } {
  const { env } = w;
  switch (op.kind) {
    case 'attach': {
      const d = w.devs[op.dev]!;
      const targets = [...w.ioas, ...w.manual];
      const target = targets[op.target % targets.length]!;
      const df = env.proc.fds.lookup(d.fd)!.private_data as VfioDeviceFile;
      const idev = df.device.iommufdDevice!;
      const cur = idev.igroup.hwpt as IommufdHwptPaging | null;
      const tgtObj = env.ctx.objects.load(target);
      const tgtIoas = tgtObj?.type === 'IOAS' ? tgtObj : (tgtObj as IommufdHwptPaging | undefined)?.ioas;
      const sameIoasReplace = df.device.iommufdAttached && cur !== null && cur.ioas === tgtIoas;
      return { errno: vfioAttach(env, d.fd, target).errno, sameIoasReplace };
    }
    case 'detach':
      return { errno: vfioDetach(env, w.devs[op.dev]!.fd), sameIoasReplace: false };
    case 'alloc': {
      const df = env.proc.fds.lookup(w.devs[op.dev]!.fd)!.private_data as VfioDeviceFile;
      const r = hwptAlloc(env, { dev_id: df.devid, pt_id: w.ioas[op.ioas]! });
      if (!r.errno) w.manual.push(r.id);
      return { errno: r.errno, sameIoasReplace: false };
    }
    case 'destroy': {
      if (!w.manual.length) return { errno: 0, sameIoasReplace: false };
      const i = op.hwpt % w.manual.length;
      const rc = destroy(env, w.manual[i]!);
      if (!rc) w.manual.splice(i, 1);
      return { errno: rc, sameIoasReplace: false };
    }
    case 'map': {
      const m = w.maps[op.ioas]!;
      const uva = w.buf + BigInt(op.slot) * 8192n;
      const r = map(env, w.ioas[op.ioas]!, uva, 8192n, slotIova(op.slot));
      if (!r.errno) m.set(op.slot, uva);
      return { errno: r.errno, sameIoasReplace: false };
    }
    case 'unmap': {
      const r = unmap(env, w.ioas[op.ioas]!, slotIova(op.slot), 8192n);
      if (!r.errno) w.maps[op.ioas]!.delete(op.slot);
      return { errno: r.errno, sameIoasReplace: false };
    }
  }
}

function checkInvariants(w: World): void {
  const { env } = w;
  const m = machine(env);
  const attachedTo = new Map<number, number>(); // hwpt id -> attached devices
  for (const ig of env.ctx.groups.values()) {
    // I7
    expect(ig.hwpt === null).toBe(ig.deviceList.length === 0);
    if (ig.hwpt) {
      attachedTo.set(ig.hwpt.id, (attachedTo.get(ig.hwpt.id) ?? 0) + ig.deviceList.length);
      expect(ig.group.domain).toBe(ig.hwpt.domain);
    } else {
      expect(ig.group.domain.type).toBe('blocked');
    }
  }
  for (const [id, o] of env.ctx.objects.entries()) {
    if (o.type !== 'HWPT_PAGING') continue;
    const h = o as IommufdHwptPaging;
    const n = attachedTo.get(id) ?? 0;
    // I8
    if (h.autoDomain) expect(n).toBeGreaterThan(0);
    expect(h.users).toBe(1 + n);
    // I6: the table maps exactly the IOAS's areas onto the user pages
    const which = w.ioas.indexOf(h.ioas.id);
    for (let slot = 0; slot < 4; slot++) {
      const uva = w.maps[which]!.get(slot);
      for (const off of [0n, 4096n]) {
        const leaf = hwLookup(h.domain!.hw!, Number(slotIova(slot) + off));
        if (uva === undefined) expect(leaf).toBeUndefined();
        else expect(leaf?.pa).toBe(env.proc.translateVa(uva + off)!.pfn * 4096);
      }
    }
  }
  // device DMA reads the user's bytes through whatever its group is attached to
  for (const d of w.devs) {
    const df = env.proc.fds.lookup(d.fd)!.private_data as VfioDeviceFile;
    const hwpt = df.device.iommufdDevice!.igroup.hwpt as IommufdHwptPaging | null;
    const r = m.dma(d.device, slotIova(1) + 16n, 'read', undefined, 4);
    if (!hwpt) {
      expect(r).toEqual({ ok: false, fault: 'blocked' });
      continue;
    }
    const uva = w.maps[w.ioas.indexOf(hwpt.ioas.id)]!.get(1);
    if (uva === undefined) expect(r?.fault).toBe('unmapped');
    else expect(Array.from(r!.data!)).toEqual(Array.from(env.proc.copyFromUser(uva + 16n, 4)!));
  }
}

/**
 * One operation of the sequence as an fc.Command: the real world is the
 * reference (its state is the model: the invariants are checked on it after
 * every command), and fc.modelRun shrinks a failing sequence to the commands
 * that matter.
 */
class DeviceCommand implements fc.Command<object, World> {
  constructor(readonly op: Op) {}
  check = (): boolean => true;
  run(_m: object, w: World): void {
    const before = snapshot(w.env);
    const r = step(w, this.op);
    // I11: a failed step changes nothing (but the kernel's same-IOAS replace quirk).
    if (r.errno && !r.sameIoasReplace) expect([this.op, snapshot(w.env)]).toEqual([this.op, before]);
    checkInvariants(w);
  }
  toString = (): string => JSON.stringify(this.op);
}

const commandsArb = fc.commands([opArb.map((op) => new DeviceCommand(op))], { maxCommands: 25 });

describe('device-side invariants under random operation sequences', () => {
  check('ref.device.random-sequences', () => {
    fc.assert(
      fc.property(commandsArb, (cmds) => {
        const w = setup();
        try {
          fc.modelRun(() => ({ model: {}, real: w }), cmds);
          // teardown leaves nothing behind
          w.env.proc.fds.closeAll();
          expect(w.env.ctx.objects.empty).toBe(true);
          expect(w.env.proc.totalPins).toBe(0);
          expect(machine(w.env).env.mem.tablePages).toBe(0);
        } finally {
          releaseEnv(w.env);
        }
      }),
    );
  }); // no own time bound: vitest.config.ts's hang guard
});
