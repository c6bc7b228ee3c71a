/**
 * Test helpers for the device side (test support, see testutil.ts): HWPT_ALLOC / GET_HW_INFO
 * / MOCK_DOMAIN ioctls through the real dispatch, VFIO device files, user
 * buffers with a reverse map for DMA `touched`, and a state snapshot for
 * atomicity and fail-nth checks.
 */
import { expect } from 'vitest';
import { iommufdCmd } from '../iommufd/main.ts';
import { layoutOf, UcmdStruct } from '../iommufd/ucmd.ts';
import { buffer, type CallResult, type Env, type Fields, ioctl, NR, testCmd } from './testutil.ts';
import { machineFor } from '../platform/index.ts';
import type { Machine } from '../platform/machine.ts';
import { vfioDeviceOpen } from '../iommufd/vfio_cdev.ts';
import type { IommufdIoas } from '../iommufd/iommufd_private.ts';
import { sysRet } from '../process/file.ts';
import { ioctlNr } from '../../spec/uapi/commands.ts';
import {
  IOMMU_GET_HW_INFO,
  IOMMU_HWPT_ALLOC,
  IOMMU_TEST_OP_MD_CHECK_IOTLB,
  IOMMU_TEST_OP_MD_CHECK_MAP,
  IOMMU_TEST_OP_MOCK_DOMAIN,
  IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
  IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
} from '../../spec/uapi/constants.ts';

export const NR_HWPT_ALLOC = ioctlNr(IOMMU_HWPT_ALLOC);
export const NR_GET_HW_INFO = ioctlNr(IOMMU_GET_HW_INFO);
export const OP_MOCK_DOMAIN = IOMMU_TEST_OP_MOCK_DOMAIN;
export const OP_MD_CHECK_MAP = IOMMU_TEST_OP_MD_CHECK_MAP;
export const OP_MOCK_DOMAIN_REPLACE = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE;
export const OP_MOCK_DOMAIN_FLAGS = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS;
export const OP_MD_CHECK_IOTLB = IOMMU_TEST_OP_MD_CHECK_IOTLB;

/** An iommufd ioctl on `struct` with named fields and optional raw byte patches. */
export function dioctl(env: Env, nr: number, struct: string, fields: Fields, opts: { patch?: readonly [number, number][]; arg?: bigint } = {}): CallResult {
  const layout = layoutOf(struct, env.profile);
  const s = new UcmdStruct(layout);
  s.set('size', layout.size);
  for (const [k, v] of Object.entries(fields)) s.set(k, v);
  for (const [off, v] of opts.patch ?? []) s.bytes[off] = v;
  const arg = opts.arg ?? env.scratch;
  if (opts.arg === undefined) env.proc.copyToUser(arg, s.bytes);
  const r = sysRet(env.ctx.file!.ops.ioctl!(env.ctx.file!, iommufdCmd(nr), arg));
  const back = env.proc.copyFromUser(arg, layout.size) ?? new Uint8Array(layout.size);
  return { errno: r.errno, ret: r.ret, out: new UcmdStruct(layout, back) };
}

export function hwptAlloc(env: Env, fields: Fields, opts: { patch?: readonly [number, number][]; arg?: bigint } = {}): { errno: number; id: number } {
  const r = dioctl(env, NR_HWPT_ALLOC, 'iommu_hwpt_alloc', fields, opts);
  return { errno: r.errno, id: r.out.num('out_hwpt_id') };
}

export function mockDomain(env: Env, ptId: number, devFlags?: number): { errno: number; stdev: number; hwpt: number; idev: number } {
  const r =
    devFlags === undefined
      ? testCmd(env, OP_MOCK_DOMAIN, ptId, {})
      : testCmd(env, OP_MOCK_DOMAIN_FLAGS, ptId, { 'mock_domain_flags.dev_flags': devFlags });
  return { errno: r.errno, stdev: r.out.num('mock_domain.out_stdev_id'), hwpt: r.out.num('mock_domain.out_hwpt_id'), idev: r.out.num('mock_domain.out_idev_id') };
}

export function mockReplace(env: Env, stdev: number, ptId: number): { errno: number; pt: number } {
  const r = testCmd(env, OP_MOCK_DOMAIN_REPLACE, stdev, { 'mock_domain_replace.pt_id': ptId });
  return { errno: r.errno, pt: r.out.num('mock_domain_replace.pt_id') };
}

export function destroy(env: Env, id: number): number {
  return ioctl(env, NR.IOMMU_DESTROY, { id }).errno;
}

export function machine(env: Env): Machine {
  return machineFor(env.proc, env.profile);
}

// ---- VFIO device files ----------------------------------------------------------

export function vfioIoctl(env: Env, fd: number, cmd: number, words: readonly number[], opts: { argsz?: number; arg?: bigint } = {}): { errno: number; out: number[] } {
  const b = new Uint8Array(Math.max(words.length * 4, 24));
  const v = new DataView(b.buffer);
  words.forEach((w, i) => v.setUint32(i * 4, w >>> 0, true));
  if (opts.argsz !== undefined) v.setUint32(0, opts.argsz, true);
  const arg = opts.arg ?? env.scratch + 8192n;
  if (opts.arg === undefined) env.proc.copyToUser(arg, b);
  const file = env.proc.fds.lookup(fd);
  if (!file?.ops.ioctl) throw new Error(`fd ${fd} has no ioctl`);
  const r = sysRet(file.ops.ioctl(file, cmd, arg));
  const back = env.proc.copyFromUser(arg, b.length) ?? new Uint8Array(b.length);
  const bv = new DataView(back.buffer);
  return { errno: r.errno, out: Array.from({ length: b.length / 4 }, (_, i) => bv.getUint32(i * 4, true)) };
}

export function openDev(env: Env, device: number): number {
  const r = vfioDeviceOpen(env.proc, env.profile, device);
  if (!('fd' in r)) throw new Error(`open_device ${device}: errno ${r.errno}`);
  return r.fd;
}

/** VFIO_DEVICE_BIND_IOMMUFD {argsz, flags, iommufd, out_devid} */
export function vfioBind(env: Env, devFd: number, iommufd: number, opts: { argsz?: number; flags?: number; arg?: bigint } = {}): { errno: number; devid: number } {
  const r = vfioIoctl(env, devFd, VFIO_DEVICE_BIND_IOMMUFD, [16, opts.flags ?? 0, iommufd, 0], opts);
  return { errno: r.errno, devid: r.out[3]! };
}

/** VFIO_DEVICE_ATTACH_IOMMUFD_PT {argsz, flags, pt_id} */
export function vfioAttach(env: Env, devFd: number, ptId: number, opts: { argsz?: number; flags?: number; arg?: bigint } = {}): { errno: number; pt: number } {
  const r = vfioIoctl(env, devFd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, [12, opts.flags ?? 0, ptId], opts);
  return { errno: r.errno, pt: r.out[2]! };
}

/** VFIO_DEVICE_DETACH_IOMMUFD_PT {argsz, flags} */
export function vfioDetach(env: Env, devFd: number, opts: { argsz?: number; flags?: number; arg?: bigint } = {}): number {
  return vfioIoctl(env, devFd, VFIO_DEVICE_DETACH_IOMMUFD_PT, [8, opts.flags ?? 0], opts).errno;
}

/** A device behind `iommu`, opened and bound to env's iommufd: { device, fd, devid }. */
export function boundDevice(env: Env, spec: Parameters<Machine['deviceCreate']>[0]): { device: number; group: number; fd: number; devid: number } {
  const c = machine(env).deviceCreate(spec);
  if (!c.ok) throw new Error(c.message);
  const fd = openDev(env, c.device);
  const b = vfioBind(env, fd, env.fd);
  expect(b.errno).toBe(0);
  return { device: c.device, group: c.group, fd, devid: b.devid };
}

// ---- buffers and DMA ------------------------------------------------------------

export interface Buf {
  readonly id: number;
  readonly va: bigint;
  readonly length: number;
}

/** A user buffer registered in the machine's reverse map (buffer ids from 1). */
export function userBuffer(env: Env, length: number, bufs: Buf[]): Buf {
  const va = buffer(env, length);
  const b: Buf = { id: bufs.length + 1, va, length };
  bufs.push(b);
  machine(env).reverseMap = (pa: number) => {
    for (const x of bufs) {
      for (let off = 0; off < x.length; off += 4096) {
        const t = env.proc.translateVa(x.va + BigInt(off));
        if (t && t.pfn === Math.floor(pa / 4096)) return { buffer: x.id, offset: off + (pa % 4096) };
      }
    }
    return undefined;
  };
  return b;
}

// ---- state snapshots ------------------------------------------------------------

/** Everything a failed ioctl must leave unchanged. */
export function snapshot(env: Env): string {
  const objs = env.ctx.objects.entries().map(([id, o]) => `${id}:${o.type}:${o.users}`);
  const ioas = env.ctx.objects
    .entries()
    .filter(([, o]) => o.type === 'IOAS')
    .map(([id, o]) => {
      const iopt = (o as IommufdIoas).iopt;
      const resv = iopt.reserved.map((r) => `${r.start}-${r.last}`).sort();
      return `ioas${id}: domains=${iopt.domains.length} align=${iopt.iovaAlignment} areas=${iopt.areas.length} resv=[${resv.join(',')}] hwpts=${(o as IommufdIoas).hwptList.map((h) => h.id).join(',')}`;
    });
  const m = machine(env);
  const groups: string[] = [];
  for (let g = 1; g < 64; g++) {
    const grp = m.group(g);
    if (grp) groups.push(`g${g}: owners=${grp.ownerCnt} domain=${grp.domain.type === 'paging' ? grp.domain.tag : grp.domain.format}`);
  }
  // Both kinds of pages of the one physical memory (page tables, user data pages).
  const pages = { table: env.proc.phys.tablePages, dataNotHeld: env.proc.phys.dataPages - env.proc.residentPages };
  return JSON.stringify({ objs, ioas, groups, pins: env.proc.totalPins, ids: env.ctx.objects.size, pages });
}
