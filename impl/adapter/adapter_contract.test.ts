/**
 * The reference adapter's answers outside ioctls: poll/read/write on the
 * files it serves (as the kernel's VFS answers files without .poll/.read/
 * .write), bad handles answered uniformly (spec/contract/ADAPTER.md §2), and
 * close() releasing everything (KVM VMs first) so nothing stays pinned.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import type { Response, SingleRequest } from '../../spec/contract/types.ts';
import { createReferenceAdapter } from './adapter.ts';
import type { Process } from '../process/process.ts';
import { DEFAULT_POLLMASK, POLLIN, POLLNVAL, POLLOUT } from '../process/file.ts';
import { EBADF, EINVAL, ESPIPE } from '../lib/errno.ts';
import { IOMMU_TEST_OP_CREATE_ACCESS } from '../../spec/uapi/constants.ts';

const POLLPRI = 0x2;

function open(profile: '6.12' | '7.3' = '6.12') {
  const impl = createReferenceAdapter(profile);
  const call = <T>(req: SingleRequest): T => {
    const r = impl.handle(req) as Response;
    if (!r.ok) throw new Error(`${req.op}: ${r.error.code} ${r.error.message} (${r.error.field})`);
    return r.result as T;
  };
  const error = (req: SingleRequest) => {
    const r = impl.handle(req) as Response;
    if (r.ok) throw new Error(`${req.op} succeeded`);
    return r.error;
  };
  const proc = (impl as unknown as { proc: Process }).proc;
  return { impl, call, error, proc };
}

/** A bound, attached VT-d device with 8 KiB mapped (2 pins). */
function boundDevice(call: ReturnType<typeof open>['call']) {
  const { fd } = call<{ fd: number }>({ op: 'open', node: 'iommu' });
  const ioas = call<{ out: { out_ioas_id: number } }>({ op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } }).out.out_ioas_id;
  const { device } = call<{ device: number }>({ op: 'device_create', spec: { iommu: 'vtd0' } });
  const dev = call<{ fd: number }>({ op: 'open_device', device });
  expect(call<{ errno: number }>({ op: 'ioctl', fd: dev.fd, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { kind: 'struct', fields: { iommufd: fd } } }).errno).toBe(0);
  expect(call<{ errno: number }>({ op: 'ioctl', fd: dev.fd, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { kind: 'struct', fields: { pt_id: ioas } } }).errno).toBe(0);
  const buf = call<{ buffer: number; va: bigint }>({ op: 'mem_alloc', length: 8192 });
  const m = call<{ errno: number }>({ op: 'ioctl', fd, cmd: 'IOMMU_IOAS_MAP', arg: { kind: 'struct', fields: { ioas_id: ioas, flags: 7, user_va: buf.va, length: 8192n, iova: 0x100000n } } });
  expect(m.errno).toBe(0);
  return { fd, ioas, device, devFd: dev.fd, buf };
}

describe('poll, read and write on the files served', () => {
  check('ref.adapter.poll-default-mask', () => {
    const { call } = open();
    const { fd } = call<{ fd: number }>({ op: 'open', node: 'iommu' });
    // iommufd_fops has no .poll: vfs_poll answers DEFAULT_POLLMASK, masked by the events asked for.
    expect(call<{ revents: number }>({ op: 'poll', fd, events: POLLIN | POLLPRI }).revents).toBe(POLLIN);
    expect(call<{ revents: number }>({ op: 'poll', fd, events: 0xffff }).revents).toBe(DEFAULT_POLLMASK);
    expect(call<{ revents: number }>({ op: 'poll', fd, events: POLLOUT }).revents).toBe(POLLOUT);
    expect(call<{ revents: number }>({ op: 'poll', fd, events: 0 }).revents).toBe(0);
    expect(call<{ revents: number }>({ op: 'poll', fd: 99, events: POLLIN }).revents).toBe(POLLNVAL);
    const caps = call<{ ops: { [op: string]: { supported: boolean } } }>({ op: 'capabilities' });
    expect([caps.ops.poll!.supported, caps.ops.read!.supported, caps.ops.write!.supported]).toEqual([true, true, true]);
  });

  check('ref.adapter.read-write-einval', () => {
    const { call, error } = open();
    const { fd } = call<{ fd: number }>({ op: 'open', node: 'iommu' });
    // No .read/.write: vfs_read/vfs_write → EINVAL (not FMODE_CAN_READ/WRITE); pread works on a device node.
    expect(call<{ errno: number }>({ op: 'read', fd, count: 8 }).errno).toBe(EINVAL);
    expect(call<{ errno: number }>({ op: 'read', fd, count: 8, offset: 0 }).errno).toBe(EINVAL);
    expect(call<{ errno: number }>({ op: 'write', fd, data: new Uint8Array(4) }).errno).toBe(EINVAL);
    expect(call<{ errno: number }>({ op: 'read', fd: 99, count: 8 }).errno).toBe(EBADF);
    // A selftest access fd is an anon inode: no FMODE_PREAD → pread is ESPIPE.
    const ioas = call<{ out: { out_ioas_id: number } }>({ op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } }).out.out_ioas_id;
    const acc = call<{ errno: number; out: { create_access: { out_access_fd: number } } }>({
      op: 'ioctl',
      fd,
      cmd: 'IOMMU_TEST_CMD',
      arg: { kind: 'struct', fields: { op: IOMMU_TEST_OP_CREATE_ACCESS, id: ioas, create_access: { flags: 0 } } },
    });
    expect(acc.errno).toBe(0);
    const afd = acc.out.create_access.out_access_fd;
    expect(call<{ errno: number }>({ op: 'read', fd: afd, count: 8, offset: 0 }).errno).toBe(ESPIPE);
    expect(call<{ errno: number }>({ op: 'read', fd: afd, count: 8 }).errno).toBe(EINVAL);
    expect(call<{ revents: number }>({ op: 'poll', fd: afd, events: POLLIN }).revents).toBe(POLLIN);
    // A VFIO device file: EINVAL until bound; once bound it would reach vfio-pci regions (not modelled).
    const { device } = call<{ device: number }>({ op: 'device_create', spec: { iommu: 'vtd0' } });
    const dev = call<{ fd: number }>({ op: 'open_device', device });
    expect(call<{ errno: number }>({ op: 'read', fd: dev.fd, count: 8 }).errno).toBe(EINVAL);
    expect(call<{ errno: number }>({ op: 'ioctl', fd: dev.fd, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { kind: 'struct', fields: { iommufd: fd } } }).errno).toBe(0);
    expect(error({ op: 'read', fd: dev.fd, count: 8 })).toMatchObject({ code: 'unsupported', field: 'fd' });
  });
});

describe('bad handles', () => {
  check('ref.adapter.bad-handle-uniform', () => {
    const { call, error } = open();
    const { fd } = call<{ fd: number }>({ op: 'open', node: 'iommu' });
    const never: [SingleRequest, string][] = [
      [{ op: 'open_device', device: 42 }, 'device'],
      [{ op: 'device_remove', device: 42 }, 'device'],
      [{ op: 'dma', device: 42, iova: 0n, dir: 'read', length: 4 }, 'device'],
      [{ op: 'translate', device: 42, iova: 0n }, 'device'],
      [{ op: 'device_create', spec: { iommu: 'vtd0', group: 42 } }, 'spec.group'],
      [{ op: 'kvm_destroy', vm: 42 }, 'vm'],
      [{ op: 'kvm_vfio_add', vm: 42, fd }, 'vm'],
      [{ op: 'kvm_vfio_del', vm: 42, fd }, 'vm'],
      [{ op: 'kvm_state', vm: 42 }, 'vm'],
      [{ op: 'mem_read', buffer: 42, offset: 0, length: 1 }, 'buffer'],
      [{ op: 'iotlb', iommu: 'nope' }, 'iommu'],
    ];
    for (const [req, field] of never) expect(error(req), req.op).toMatchObject({ code: 'bad-handle', field });
    // Gone handles too: a removed device, a destroyed VM.
    const { device } = call<{ device: number }>({ op: 'device_create', spec: { iommu: 'vtd0' } });
    call({ op: 'device_remove', device });
    for (const req of [{ op: 'open_device', device }, { op: 'device_remove', device }] as SingleRequest[]) expect(error(req)).toMatchObject({ code: 'bad-handle', field: 'device' });
    const { vm } = call<{ vm: number }>({ op: 'kvm_create' });
    call({ op: 'kvm_destroy', vm });
    expect(error({ op: 'kvm_vfio_add', vm, fd })).toMatchObject({ code: 'bad-handle', field: 'vm' });
    // A stale fd is the real system's answer, EBADF, not a protocol error.
    expect(call<{ errno: number }>({ op: 'close', fd: 77 }).errno).toBe(EBADF);
    // An op outside the contract (a JS caller's) is answered, naming the field, not dropped.
    expect(error({ op: 'frob' } as unknown as SingleRequest)).toMatchObject({ code: 'bad-request', field: 'op' });
  });
});

describe('close', () => {
  check('ref.adapter.close-releases-kvm-held-devices', () => {
    const { impl, call, proc } = open();
    const d = boundDevice(call);
    const { vm } = call<{ vm: number }>({ op: 'kvm_create' });
    expect(call<{ errno: number }>({ op: 'kvm_vfio_add', vm, fd: d.devFd }).errno).toBe(0);
    expect(call<{ pins: number[] }>({ op: 'pin_count', buffer: d.buf.buffer, offset: 0, length: 8192 }).pins).toEqual([1, 1]);
    // The device's page tables live in the process's one physical memory.
    expect(proc.phys.tablePages).toBeGreaterThan(0);
    impl.close?.();
    expect(proc.totalPins).toBe(0);
    expect(proc.pinnedVm).toBe(0);
    expect(proc.fds.openFds).toEqual([]);
    // Every page-table page went back; no data page is held but the process's own mappings.
    expect(proc.phys.tablePages).toBe(0);
    expect(proc.phys.dataPages).toBe(proc.residentPages);
  });
});
