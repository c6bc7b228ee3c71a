/**
 * The machines' unit tests: for the sequences the lifecycle clauses name, the
 * machines accept what the kernel accepts and refuse what it refuses — each
 * scenario runs the kernel's answers through the oracle (verdict ok) and at
 * least one answer the kernel would never give (verdict disagree).
 */
import { describe, expect } from 'vitest';
import { check } from '../spec/clauses/check.ts';
import { FAIL, K, OK, OP_FAIL, RESULT, ioctl, mockWorld, scenario, testOp } from './testing.ts';

const NEST_PARENT = K('IOMMU_HWPT_ALLOC_NEST_PARENT');
const DIRTY = K('IOMMU_HWPT_ALLOC_DIRTY_TRACKING');
const FAULT_ID = K('IOMMU_HWPT_FAULT_ID_VALID');
const ALLOC_PASID = K('IOMMU_HWPT_ALLOC_PASID');
const SELFTEST_DATA = K('IOMMU_HWPT_DATA_SELFTEST');
const FIXED_RW = K('IOMMU_IOAS_MAP_FIXED_IOVA') | K('IOMMU_IOAS_MAP_READABLE') | K('IOMMU_IOAS_MAP_WRITEABLE');
const nested = (dev: number, pt: number, flags = 0, extra = {}) =>
  ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: dev, pt_id: pt, flags, data_type: SELFTEST_DATA, data_len: 8, data_uptr: { data: new Uint8Array(8) }, ...extra });
const destroy = (id: number) => ioctl(3, 'IOMMU_DESTROY', { id });
const map = (ioas: number, iova: bigint, length: bigint) => ioctl(3, 'IOMMU_IOAS_MAP', { ioas_id: ioas, flags: FIXED_RW, user_va: 0x7f0000000000n, iova, length });

describe('lifecycle machines', () => {
  check('machines.objects.typed-lookup', () => {
    const s = mockWorld('7.3');
    s.step(map(4, 0x1000000n, 0x1000n), FAIL('ENOENT')); // a HWPT is no IOAS
    s.step(ioctl(3, 'IOMMU_HWPT_SET_DIRTY_TRACKING', { hwpt_id: 1 }), FAIL('ENOENT')); // an IOAS is no paging HWPT
    s.step(ioctl(3, 'IOMMU_GET_HW_INFO', { dev_id: 1 }), FAIL('ENOENT'));
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 99 }), FAIL('EINVAL')); // HWPT_ALLOC remaps an absent pt_id to EINVAL
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 3 }), FAIL('EINVAL')); // a DEVICE is no pt
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 1, pt_id: 1 }), FAIL('ENOENT'));
    s.step(ioctl(3, 'IOMMU_VIOMMU_ALLOC', { dev_id: 3, hwpt_id: 1, type: K('IOMMU_VIOMMU_TYPE_SELFTEST') }), FAIL('ENOENT'));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 3, mock_domain_replace: { pt_id: 1 } }), FAIL('ENOENT')); // the DEVICE id is not the selftest id
    // An implementation that maps into a HWPT id disagrees.
    s.step(map(4, 0x1000000n, 0x1000n), OK(), 'disagree');
  });

  check('machines.files.ebadf-after-close', () => {
    const s = scenario('6.12');
    s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    s.step({ op: 'close', fd: 3 }, RESULT({ ret: 0, errno: 0 }));
    s.step({ op: 'close', fd: 3 }, OP_FAIL('EBADF'));
    s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), FAIL('EBADF'));
    s.step({ op: 'close', fd: 3 }, RESULT({ ret: 0, errno: 0 }), 'disagree');
  });

  check('machines.device.destroy-ebusy', () => {
    const s = mockWorld('6.12');
    s.step(destroy(3), FAIL('EBUSY'));
    expect(s.states(3)).toEqual(['present.rid.attached.auto', 'present.pasid.none']);
    s.step(destroy(3), OK(), 'disagree');
  });

  check('machines.reset', () => {
    // reset (ADAPTER.md §3.11): everything the session made is gone and handles restart — the same fd and ids come again.
    const s = mockWorld('7.3');
    s.step(destroy(1), FAIL('EBUSY'));
    s.step({ op: 'reset' }, RESULT({}));
    s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
    s.step(destroy(1), OK()); // no device holds this IOAS
    // Without the reset the same answer disagrees: id 1 is still the old IOAS.
    const t = mockWorld('7.3');
    t.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }), 'disagree');
  });

  check('machines.device.create-bind-unbind-remove', () => {
    const s = scenario('7.3', [{ name: 'vtd0', dirty: true, coherent: true }]);
    s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
    s.step({ op: 'device_create', spec: { iommu: 'vtd0' } }, RESULT({ device: 1, group: 1 }));
    s.step({ op: 'open_device', device: 1 }, RESULT({ fd: 4 }));
    s.step(ioctl(4, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: 1 }), FAIL('EINVAL')); // not bound yet
    s.step(ioctl(4, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: 3 }), OK({ out_devid: 2 }));
    s.step(ioctl(4, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: 3 }), FAIL('EINVAL')); // twice
    s.step(ioctl(4, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: 1 }), OK({ pt_id: 3 })); // an automatic HWPT
    s.step(destroy(2), FAIL('EBUSY'));
    s.step(destroy(1), FAIL('EBUSY'));
    s.step({ op: 'device_remove', device: 1 }, { ok: false, error: { code: 'bad-request', message: 'device open' } }, 'open');
    s.step({ op: 'close', fd: 4 }, RESULT({ ret: 0, errno: 0 })); // unbind: detach, the auto HWPT goes
    s.step(destroy(3), FAIL('ENOENT'));
    s.step(destroy(2), FAIL('ENOENT'));
    s.step(destroy(1), OK());
    s.step({ op: 'device_remove', device: 1 }, RESULT({}));
    // A removed device's handle is released: the adapter answers bad-handle (ADAPTER.md §3.6), which no machine decides.
    s.step({ op: 'open_device', device: 1 }, { ok: false, error: { code: 'bad-handle', message: 'device: no device 1' } }, 'open');
    // The same sequence answered as if the auto HWPT had survived the unbind disagrees.
    const t = scenario('7.3', [{ name: 'vtd0', dirty: true, coherent: true }]);
    t.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    t.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
    t.step({ op: 'device_create', spec: { iommu: 'vtd0' } }, RESULT({ device: 1, group: 1 }));
    t.step({ op: 'open_device', device: 1 }, RESULT({ fd: 4 }));
    t.step(ioctl(4, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: 3 }), OK({ out_devid: 2 }));
    t.step(ioctl(4, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: 1 }), OK({ pt_id: 3 }));
    t.step({ op: 'close', fd: 4 }, RESULT({ ret: 0, errno: 0 }));
    t.step(destroy(3), FAIL('EBUSY'), 'disagree');
  });

  check('machines.group.ownership-and-one-hwpt', () => {
    const s = scenario('7.3', [{ name: 'vtd0', dirty: true, coherent: true }]);
    s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 4 }));
    s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
    s.step({ op: 'device_create', spec: { iommu: 'vtd0' } }, RESULT({ device: 1, group: 1 }));
    s.step({ op: 'device_create', spec: { iommu: 'vtd0', group: 1 } }, RESULT({ device: 2, group: 1 }));
    s.step({ op: 'open_device', device: 1 }, RESULT({ fd: 5 }));
    s.step({ op: 'open_device', device: 2 }, RESULT({ fd: 6 }));
    s.step(ioctl(5, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: 3 }), OK({ out_devid: 2 }));
    s.step(ioctl(6, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: 4 }), FAIL('EPERM')); // the group belongs to fd 3's iommufd
    s.step(ioctl(6, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: 3 }), OK({ out_devid: 3 }));
    s.step(ioctl(5, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: 1 }), OK({ pt_id: 4 }));
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1 }), OK({ out_hwpt_id: 5 }));
    s.step(ioctl(6, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: 5 }), FAIL('EINVAL')); // one HWPT per group
    s.step(ioctl(6, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: 1 }), OK({ pt_id: 4 })); // joins the group's auto HWPT
    s.step(ioctl(5, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: 5 }), OK({ pt_id: 5 })); // a replace moves the group
    s.step(destroy(4), FAIL('ENOENT')); // the auto HWPT lost both devices
    s.step(destroy(5), FAIL('EBUSY'));
    s.step(ioctl(6, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: 4 }), OK({ out_devid: 1 }), 'disagree');
  });

  check('machines.mock.destroy-detaches-and-frees-auto', () => {
    const s = mockWorld('6.12');
    s.step(destroy(4), FAIL('EBUSY'));
    s.step(destroy(2), OK());
    s.step(destroy(4), FAIL('ENOENT'));
    s.step(destroy(3), FAIL('ENOENT'));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 1 } }, '6.12'), FAIL('ENOENT'));
    s.step(destroy(1), OK());
    const t = mockWorld('6.12');
    t.step(destroy(2), OK());
    t.step(destroy(1), FAIL('EBUSY'), 'disagree'); // the auto HWPT is gone with its last device
  });

  check('machines.ioas.users', () => {
    const s = mockWorld('6.12');
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1 }), OK({ out_hwpt_id: 5 }));
    s.step(destroy(2), OK());
    s.step(destroy(1), FAIL('EBUSY')); // the manual HWPT 5 holds it
    s.step(destroy(5), OK());
    s.step(testOp(3, 'IOMMU_TEST_OP_CREATE_ACCESS', { id: 1, create_access: { flags: 0 } }, '6.12'), OK({ create_access: { out_access_fd: 4 } }));
    s.step(destroy(1), FAIL('EBUSY')); // the access holds it
    s.step({ op: 'close', fd: 4 }, RESULT({ ret: 0, errno: 0 }));
    s.step(destroy(1), OK());
    const t = mockWorld('6.12');
    t.step(destroy(1), OK(), 'disagree');
  });

  check('machines.ioas.change-process-file-areas', () => {
    const s = scenario('7.3');
    s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
    s.step(ioctl(3, 'IOMMU_IOAS_CHANGE_PROCESS'), OK()); // nothing mapped: nothing to move
    s.step(map(1, 0x1000000n, 0x1000n), OK());
    s.step(ioctl(3, 'IOMMU_IOAS_CHANGE_PROCESS'), FAIL('EINVAL'));
    s.step(ioctl(3, 'IOMMU_IOAS_CHANGE_PROCESS'), OK(), 'disagree');
  });

  check('machines.ioas.unmap-areas', () => {
    const s = scenario('7.3');
    s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
    const unmap = (iova: bigint, length: bigint) => ioctl(3, 'IOMMU_IOAS_UNMAP', { ioas_id: 1, iova, length });
    s.step(unmap(0x1000000n, 0x1000n), FAIL('ENOENT')); // empty
    s.step(unmap(0n, (1n << 64n) - 1n), OK({ length: 0n })); // unmap-all always succeeds
    s.step(map(1, 0x1000000n, 0x2000n), OK());
    s.step(map(1, 0x1004000n, 0x1000n), OK());
    expect(s.states(1)).toEqual(['live.mapped']);
    s.step(unmap(0x1000000n, 0x1000n), FAIL('ENOENT')); // areas are never split
    s.step(unmap(0x1000000n, 0x5000n), OK({ length: 0x3000n }));
    expect(s.states(1)).toEqual(['live.empty']);
    s.step(map(1, 0x1000000n, 0x1000n), OK());
    s.step(unmap(0x1000000n, 0x1000n), OK({ length: 0x2000n }), 'disagree'); // a length the areas do not add up to
  });

  check('machines.ioas.disable-large-pages-twice', () => {
    // iopt_disable_large_pages: off already → 0 before the domains-and-areas check (EINVAL).
    const s = mockWorld('7.3');
    const hugePages = (val64: bigint) => ioctl(3, 'IOMMU_OPTION', { option_id: K('IOMMU_OPTION_HUGE_PAGES'), op: K('IOMMU_OPTION_OP_SET'), object_id: 1, val64 });
    s.step(map(1, 0x1000000n, 0x1000n), OK());
    s.step(hugePages(0n), FAIL('EINVAL')); // a domain (the mock's) and an area
    s.step(hugePages(0n), OK(), 'disagree');
    const t = scenario('7.3');
    t.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    t.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
    t.step(hugePages(0n), OK()); // no domain yet
    t.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN', { id: 1, mock_domain: {} }, '7.3'), OK({ mock_domain: { out_stdev_id: 2, out_idev_id: 3, out_hwpt_id: 4 } }));
    t.step(map(1, 0x1000000n, 0x1000n), OK());
    t.step(hugePages(0n), OK()); // off already
  });

  check('machines.ioas.copy-syz-source', () => {
    // With MOCK_FLAGS_ACCESS_SYZ, ioas.c decodes src_iova as (nth area, offset) before any other
    // check (iommufd_test_syz_conv_iova_id): 0x4000 names area 16384, which does not exist, so
    // the source is IOVA 0, which nothing maps — ENOENT before the destination's overlap (EEXIST).
    const s = scenario('7.3');
    s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
    s.step(map(1, 0x4000n, 0x4000n), OK());
    const syz = K('MOCK_FLAGS_ACCESS_SYZ');
    const copy = (src: bigint) => ioctl(3, 'IOMMU_IOAS_COPY', { flags: FIXED_RW | syz, src_ioas_id: 1, dst_ioas_id: 1, length: 0x4000n, src_iova: src, dst_iova: 0x4000n });
    s.step(copy(0x4000n), FAIL('ENOENT'));
    s.step(copy(0x4000n), FAIL('EEXIST'), 'disagree');
    s.step(copy(0n), FAIL('EEXIST')); // area 0 at offset 0: the source is the area itself; the destination overlaps it
  });

  /** A range iommufd_check_iova_range accepts (one 4 KiB page). */
  const DIRTY_RANGE = { iova: 0x1000000, length: 0x1000, page_size: 0x1000 };

  check('machines.hwpt.dirty-tracking', () => {
    const s = mockWorld('7.3');
    s.step(ioctl(3, 'IOMMU_HWPT_SET_DIRTY_TRACKING', { hwpt_id: 4, flags: 1 }), FAIL('EOPNOTSUPP')); // automatic: no dirty ops
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: DIRTY }), OK({ out_hwpt_id: 5 }));
    s.step(ioctl(3, 'IOMMU_HWPT_SET_DIRTY_TRACKING', { hwpt_id: 5, flags: 1 }), OK());
    expect(s.states(5)).toEqual(['manual.tracking']);
    s.step(ioctl(3, 'IOMMU_HWPT_SET_DIRTY_TRACKING', { hwpt_id: 5, flags: 0 }), OK());
    expect(s.states(5)).toEqual(['manual.untracked']);
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1 }), OK({ out_hwpt_id: 6 }));
    s.step(ioctl(3, 'IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: 6, ...DIRTY_RANGE }), FAIL('EOPNOTSUPP'));
    s.step(ioctl(3, 'IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: 6, ...DIRTY_RANGE }), OK(), 'disagree');
  });

  check('machines.hwpt.dirty-read-needs-tracking-612', () => {
    for (const profile of ['6.12', '7.3'] as const) {
      const s = mockWorld(profile);
      s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: DIRTY }), OK({ out_hwpt_id: 5 }));
      if (profile === '6.12') {
        s.step(ioctl(3, 'IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: 5, ...DIRTY_RANGE }), FAIL('EINVAL')); // tracking off
        s.step(ioctl(3, 'IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: 5, ...DIRTY_RANGE }), OK(), 'disagree');
      } else {
        s.step(ioctl(3, 'IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: 5, ...DIRTY_RANGE }), OK()); // iova_bitmap_for_each's result is dropped
      }
      s.step(ioctl(3, 'IOMMU_HWPT_SET_DIRTY_TRACKING', { hwpt_id: 5, flags: 1 }), OK());
      s.step(ioctl(3, 'IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: 5, ...DIRTY_RANGE }), OK());
      // Unknown flags are refused before the HWPT is looked up (found by the suite on linux-6.12).
      s.step(ioctl(3, 'IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: 99, flags: 0x80000000 }), FAIL('EOPNOTSUPP'), 'open');
      s.step(ioctl(3, 'IOMMU_HWPT_SET_DIRTY_TRACKING', { hwpt_id: 99, flags: 0x80000000 }), FAIL('EOPNOTSUPP'), 'open');
      s.step(ioctl(3, 'IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: 99, ...DIRTY_RANGE }), FAIL('ENOENT'));
      // The range checks come before the dirty ops: an automatic HWPT (no dirty ops) with page_size 0 is EINVAL.
      s.step(ioctl(3, 'IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: 4, length: 0x1000, page_size: 0 }), FAIL('EINVAL'), 'open');
    }
  });

  check('machines.hwpt.dirty-domain-refuses-no-dirty', () => {
    const s = mockWorld('6.12', K('MOCK_FLAGS_DEVICE_NO_DIRTY', '6.12'));
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: DIRTY }), FAIL('EOPNOTSUPP')); // the device cannot track
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN', { id: 1, mock_domain: {} }, '6.12'), OK({ mock_domain: { out_stdev_id: 5, out_idev_id: 6, out_hwpt_id: 4 } }));
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 6, pt_id: 1, flags: DIRTY }), OK({ out_hwpt_id: 7 }));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 7 } }, '6.12'), FAIL('EINVAL'));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 5, mock_domain_replace: { pt_id: 7 } }, '6.12'), OK({ mock_domain_replace: { pt_id: 7 } }));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 7 } }, '6.12'), OK({ mock_domain_replace: { pt_id: 7 } }), 'disagree');
  });

  check('machines.nesting.parent-rules', () => {
    const s = mockWorld('6.12');
    s.step(nested(3, 4), FAIL('EINVAL')); // an automatic parent
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1 }), OK({ out_hwpt_id: 5 }));
    s.step(nested(3, 5), FAIL('EINVAL')); // no NEST_PARENT
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: NEST_PARENT }), OK({ out_hwpt_id: 6 }));
    s.step(nested(3, 6), OK({ out_hwpt_id: 7 }));
    s.step(nested(3, 7), FAIL('EINVAL')); // nested on nested
    s.step(destroy(6), FAIL('EBUSY')); // the child holds its parent
    s.step(destroy(7), OK());
    s.step(destroy(6), OK());
    s.step(nested(3, 5), OK({ out_hwpt_id: 6 }), 'disagree');
  });

  check('machines.nesting.attach-and-destroy', () => {
    const s = mockWorld('6.12');
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: NEST_PARENT }), OK({ out_hwpt_id: 5 }));
    s.step(nested(3, 5), OK({ out_hwpt_id: 6 }));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 6 } }, '6.12'), OK({ mock_domain_replace: { pt_id: 6 } }));
    expect(s.states(3)).toEqual(['present.rid.attached.nested', 'present.pasid.none']);
    s.step(destroy(4), FAIL('ENOENT')); // the automatic HWPT went with its last device
    s.step(destroy(6), FAIL('EBUSY'));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 1 } }, '6.12'), OK({ mock_domain_replace: { pt_id: 4 } }));
    s.step(destroy(6), OK());
    s.step(destroy(5), OK());
    s.step(destroy(4), OK(), 'disagree');
  });

  check('machines.nesting.invalidate-target', () => {
    const inv = (id: number) => ioctl(3, 'IOMMU_HWPT_INVALIDATE', { hwpt_id: id, data_type: K('IOMMU_HWPT_INVALIDATE_DATA_SELFTEST'), entry_len: 8, entry_num: 0 });
    const a = mockWorld('6.12');
    a.step(inv(4), FAIL('ENOENT')); // 6.12: not a nested HWPT
    a.step(inv(1), FAIL('ENOENT'));
    a.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: NEST_PARENT }), OK({ out_hwpt_id: 5 }));
    a.step(nested(3, 5), OK({ out_hwpt_id: 6 }));
    a.step(inv(6), OK({ entry_num: 0 }));
    a.step(inv(4), OK(), 'disagree');
    const b = mockWorld('7.3');
    b.step(inv(4), FAIL('EINVAL')); // 7.3: an existing object that is neither nested nor a vIOMMU
    b.step(inv(1), FAIL('EINVAL'));
    b.step(inv(99), FAIL('ENOENT'));
    b.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: NEST_PARENT }), OK({ out_hwpt_id: 5 }));
    b.step(ioctl(3, 'IOMMU_VIOMMU_ALLOC', { dev_id: 3, hwpt_id: 5, type: K('IOMMU_VIOMMU_TYPE_SELFTEST') }), OK({ out_viommu_id: 6 }));
    b.step(inv(6), OK({ entry_num: 0 })); // through the vIOMMU
    b.step(inv(4), FAIL('ENOENT'), 'disagree');
  });

  check('machines.access.lifecycle', () => {
    const s = mockWorld('6.12');
    const ACCESS = (op: string, fields: Record<string, unknown>) => testOp(3, op, fields as never, '6.12');
    s.step(ACCESS('IOMMU_TEST_OP_CREATE_ACCESS', { id: 1, create_access: { flags: K('MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES', '6.12') } }), OK({ create_access: { out_access_fd: 4 } }));
    s.step(map(1, 0x1000000n, 0x2000n), OK());
    s.step(ACCESS('IOMMU_TEST_OP_ACCESS_PAGES', { id: 4, access_pages: { iova: 0x1000000n, length: 0x1000n } }), OK({ access_pages: { out_access_pages_id: 0 } }));
    s.step(ACCESS('IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', { id: 4, destroy_access_pages: { access_pages_id: 5 } }), FAIL('ENOENT'));
    s.step(ACCESS('IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', { id: 4, destroy_access_pages: { access_pages_id: 0 } }), OK());
    s.step(ACCESS('IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', { id: 4, destroy_access_pages: { access_pages_id: 0 } }), FAIL('ENOENT'));
    s.step(ACCESS('IOMMU_TEST_OP_ACCESS_PAGES', { id: 4, access_pages: { iova: 0x1000000n, length: 0x1000n } }), OK({ access_pages: { out_access_pages_id: 1 } }));
    s.step(ioctl(3, 'IOMMU_IOAS_UNMAP', { ioas_id: 1, iova: 0x1000000n, length: 0x2000n }), OK({ length: 0x2000n })); // the unmap callback drops item 1
    s.step(ACCESS('IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', { id: 4, destroy_access_pages: { access_pages_id: 1 } }), FAIL('ENOENT'));
    s.step(destroy(5), FAIL('EBUSY')); // the access's own (hidden) id: held by its driver
    s.step(ACCESS('IOMMU_TEST_OP_ACCESS_RW', { id: 3, access_rw: { iova: 0x1000000n, length: 1n } }), FAIL('EBADFD')); // fd 3 is the iommufd
    s.step(ACCESS('IOMMU_TEST_OP_CREATE_ACCESS', { id: 1, create_access: { flags: 0 } }), OK({ create_access: { out_access_fd: 6 } }));
    s.step(ACCESS('IOMMU_TEST_OP_ACCESS_PAGES', { id: 6, access_pages: { iova: 0x1000000n, length: 0x1000n } }), FAIL('EOPNOTSUPP')); // not a pinning access
    s.step({ op: 'close', fd: 4 }, RESULT({ ret: 0, errno: 0 }));
    s.step({ op: 'close', fd: 6 }, RESULT({ ret: 0, errno: 0 }));
    s.step(ACCESS('IOMMU_TEST_OP_ACCESS_RW', { id: 4, access_rw: { iova: 0x1000000n, length: 1n } }), FAIL('EBADFD'));
    s.step(destroy(2), OK());
    s.step(destroy(1), OK()); // no access holds the IOAS any more
    s.step(destroy(1), OK(), 'disagree');
  });

  check('machines.compat.needs-compat-ioas', () => {
    const s = scenario('7.3');
    s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    s.step({ op: 'ioctl', fd: 3, cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: BigInt(K('VFIO_TYPE1v2_IOMMU')) } }, FAIL('ENODEV'));
    s.step(ioctl(3, 'IOMMU_VFIO_IOAS', { op: K('IOMMU_VFIO_IOAS_GET') }), FAIL('ENODEV'));
    s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
    s.step(ioctl(3, 'IOMMU_VFIO_IOAS', { op: K('IOMMU_VFIO_IOAS_SET'), ioas_id: 1 }), OK());
    s.step(ioctl(3, 'VFIO_IOMMU_MAP_DMA', { flags: 3, vaddr: 0x7f0000000000n, iova: 0x1000000n, size: 0x1000n }), OK());
    s.step(ioctl(3, 'VFIO_IOMMU_UNMAP_DMA', { iova: 0x1000000n, size: 0x1000n }), OK({ size: 0x1000n }));
    s.step(ioctl(3, 'VFIO_IOMMU_UNMAP_DMA', { iova: 0x1000000n, size: 0x1000n }), OK({ size: 0n })); // nothing: 0, not ENOENT
    s.step(destroy(1), OK()); // destroying the compat IOAS clears it
    s.step(ioctl(3, 'VFIO_IOMMU_MAP_DMA', { flags: 3, vaddr: 0x7f0000000000n, iova: 0x1000000n, size: 0x1000n }), FAIL('ENODEV'));
    s.step(ioctl(3, 'VFIO_IOMMU_GET_INFO', {}), OK(), 'disagree');
  });

  check('machines.viommu.alloc-and-children', () => {
    const s = mockWorld('7.3');
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: NEST_PARENT }), OK({ out_hwpt_id: 5 }));
    const valloc = (hwpt: number) => ioctl(3, 'IOMMU_VIOMMU_ALLOC', { dev_id: 3, hwpt_id: hwpt, type: K('IOMMU_VIOMMU_TYPE_SELFTEST') });
    s.step(valloc(4), FAIL('EINVAL')); // not a NEST_PARENT
    s.step(valloc(5), OK({ out_viommu_id: 6 }));
    s.step(destroy(5), FAIL('EBUSY')); // the vIOMMU holds its parent
    s.step(nested(3, 6), OK({ out_hwpt_id: 7 }));
    s.step(ioctl(3, 'IOMMU_VDEVICE_ALLOC', { viommu_id: 6, dev_id: 3, virt_id: 0x99n }), OK({ out_vdevice_id: 8 }));
    s.step(destroy(6), FAIL('EBUSY'));
    s.step(destroy(7), OK());
    s.step(destroy(6), FAIL('EBUSY')); // the vDEVICE still holds it
    s.step(destroy(8), OK());
    s.step(destroy(6), OK());
    s.step(destroy(5), OK());
    s.step(valloc(4), OK({ out_viommu_id: 5 }), 'disagree');
  });

  check('machines.viommu.same-iommu', () => {
    const s = scenario('7.3', [
      { name: 'mock', dirty: true, coherent: false },
      { name: 'vtd0', dirty: true, coherent: true },
    ]);
    s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN', { id: 1, mock_domain: {} }), OK({ mock_domain: { out_stdev_id: 2, out_idev_id: 3, out_hwpt_id: 4 } }));
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: NEST_PARENT }), OK({ out_hwpt_id: 5 }));
    s.step(ioctl(3, 'IOMMU_VIOMMU_ALLOC', { dev_id: 3, hwpt_id: 5, type: K('IOMMU_VIOMMU_TYPE_SELFTEST') }), OK({ out_viommu_id: 6 }));
    s.step({ op: 'device_create', spec: { iommu: 'vtd0' } }, RESULT({ device: 1, group: 1 }));
    s.step({ op: 'open_device', device: 1 }, RESULT({ fd: 4 }));
    s.step(ioctl(4, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: 3 }), OK({ out_devid: 7 }));
    s.step(ioctl(3, 'IOMMU_VDEVICE_ALLOC', { viommu_id: 6, dev_id: 7, virt_id: 1n }), FAIL('EINVAL'));
    s.step(nested(7, 6), FAIL('EINVAL'));
    s.step(nested(7, 6), OK({ out_hwpt_id: 8 }), 'disagree');
  });

  const viommuWorld = () => {
    const s = mockWorld('7.3');
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: NEST_PARENT }), OK({ out_hwpt_id: 5 }));
    s.step(ioctl(3, 'IOMMU_VIOMMU_ALLOC', { dev_id: 3, hwpt_id: 5, type: K('IOMMU_VIOMMU_TYPE_SELFTEST') }), OK({ out_viommu_id: 6 }));
    s.step(nested(3, 6), OK({ out_hwpt_id: 7 }));
    return s;
  };

  check('machines.vdevice.uniqueness', () => {
    const s = viommuWorld();
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN', { id: 1, mock_domain: {} }), OK({ mock_domain: { out_stdev_id: 8, out_idev_id: 9, out_hwpt_id: 4 } }));
    s.step(ioctl(3, 'IOMMU_VDEVICE_ALLOC', { viommu_id: 6, dev_id: 3, virt_id: 0x99n }), OK({ out_vdevice_id: 10 }));
    s.step(ioctl(3, 'IOMMU_VDEVICE_ALLOC', { viommu_id: 6, dev_id: 3, virt_id: 0x98n }), FAIL('EEXIST')); // one per device
    s.step(ioctl(3, 'IOMMU_VDEVICE_ALLOC', { viommu_id: 6, dev_id: 9, virt_id: 0x99n }), FAIL('EEXIST')); // one per virt_id
    s.step(ioctl(3, 'IOMMU_VDEVICE_ALLOC', { viommu_id: 6, dev_id: 9, virt_id: 0x98n }), OK({ out_vdevice_id: 11 }));
    s.step(destroy(10), OK());
    s.step(ioctl(3, 'IOMMU_VDEVICE_ALLOC', { viommu_id: 6, dev_id: 3, virt_id: 0x99n }), OK({ out_vdevice_id: 10 }));
    s.step(ioctl(3, 'IOMMU_VDEVICE_ALLOC', { viommu_id: 6, dev_id: 3, virt_id: 0x97n }), OK({ out_vdevice_id: 12 }), 'disagree');
  });

  check('machines.attach.foreign-domain', () => {
    // Found by the random suite on the reference: a mock device created onto a HWPT a VT-d device allocated.
    for (const profile of ['6.12', '7.3'] as const) {
      const world = (): ReturnType<typeof scenario> => {
        const s = scenario(profile, [
          { name: 'vtd0', dirty: true, coherent: true, format: 'vtd-ss' },
          { name: 'vtd1', dirty: true, coherent: true, format: 'vtd-ss' },
        ]);
        s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
        s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
        s.step({ op: 'device_create', spec: { iommu: 'vtd0' } }, RESULT({ device: 1, group: 1 }));
        s.step({ op: 'open_device', device: 1 }, RESULT({ fd: 4 }));
        s.step(ioctl(4, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: 3 }), OK({ out_devid: 2 }));
        s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 2, pt_id: 1 }), OK({ out_hwpt_id: 3 }));
        return s;
      };
      // The mock driver does not own a VT-d domain: EINVAL, and a success is a disagreement.
      const s = world();
      s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN', { id: 3, mock_domain: {} }, profile), FAIL('EINVAL'));
      const t = world();
      const v = t.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN', { id: 3, mock_domain: {} }, profile), OK({ mock_domain: { out_stdev_id: 4, out_idev_id: 5, out_hwpt_id: 3 } }), 'disagree');
      expect(v.kind === 'disagree' && v.guard).toBe('foreignDomain');
      // Another unit of the same driver: its attach_dev decides, the machines follow either answer.
      const u = world();
      u.step({ op: 'device_create', spec: { iommu: 'vtd1' } }, RESULT({ device: 2, group: 2 }));
      u.step({ op: 'open_device', device: 2 }, RESULT({ fd: 5 }));
      u.step(ioctl(5, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: 3 }), OK({ out_devid: 4 }));
      u.step(ioctl(5, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: 3 }), FAIL('EINVAL'), 'open');
      u.step(ioctl(5, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: 3 }), OK({ pt_id: 3 }));
      u.step(destroy(3), FAIL('EBUSY'));
    }
  });

  check('machines.vdevice.tombstone', () => {
    const s = viommuWorld();
    s.step(ioctl(3, 'IOMMU_VDEVICE_ALLOC', { viommu_id: 6, dev_id: 3, virt_id: 0x99n }), OK({ out_vdevice_id: 8 }));
    s.step(destroy(2), OK()); // the device goes: its vDEVICE is tombstoned
    expect(s.states(8)).toEqual(['tombstone']);
    s.step(destroy(8), FAIL('ENOENT'));
    s.step(destroy(6), FAIL('EBUSY')); // the nested HWPT still holds the vIOMMU
    s.step(destroy(7), OK());
    s.step(destroy(6), OK()); // the tombstone does not hold it
    // Ids 2, 3, 4, 6, 7 are free; 8 stays reserved.
    s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 2 }));
    s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 8 }), 'disagree');
    const t = viommuWorld();
    t.step(ioctl(3, 'IOMMU_VDEVICE_ALLOC', { viommu_id: 6, dev_id: 3, virt_id: 0x99n }), OK({ out_vdevice_id: 8 }));
    t.step(destroy(2), OK());
    t.step(destroy(8), OK(), 'disagree');
  });

  check('machines.vdevice.nested-attach-needs-vdevice', () => {
    const s = viommuWorld();
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 7 } }), FAIL('ENOENT'));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN', { id: 7, mock_domain: {} }), FAIL('ENOENT')); // a new device has no vDEVICE
    s.step(ioctl(3, 'IOMMU_VDEVICE_ALLOC', { viommu_id: 6, dev_id: 3, virt_id: 0x99n }), OK({ out_vdevice_id: 8 }));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 7 } }), OK({ mock_domain_replace: { pt_id: 7 } }));
    s.step(testOp(3, 'IOMMU_TEST_OP_TRIGGER_VEVENT', { trigger_vevent: { dev_id: 3 } }), FAIL('EOPNOTSUPP')); // no vEVENTQ yet
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN', { id: 7, mock_domain: {} }), OK({ mock_domain: { out_stdev_id: 4, out_idev_id: 9, out_hwpt_id: 7 } }), 'disagree');
  });

  check('machines.hw-queue.lifecycle', () => {
    const s = viommuWorld();
    const q = (index: number, iova: bigint, length = 0x1000n) =>
      ioctl(3, 'IOMMU_HW_QUEUE_ALLOC', { viommu_id: 6, type: K('IOMMU_HW_QUEUE_TYPE_SELFTEST'), index, nesting_parent_iova: iova, length });
    s.step(q(0, 0x1000000n), FAIL('ENOENT')); // nothing mapped there
    s.step(map(1, 0x1000000n, 0x1000n), OK());
    s.step(map(1, 0x1001000n, 0x1000n), OK());
    s.step(q(1, 0x1000000n), FAIL('EIO')); // queue 0 missing
    s.step(q(2, 0x1000000n), FAIL('EINVAL'));
    s.step(q(0, 0x1000000n), OK({ out_hw_queue_id: 8 })); // and an internal access, id 9
    s.step(q(0, 0x1000000n), FAIL('EEXIST'));
    s.step(ioctl(3, 'IOMMU_IOAS_UNMAP', { ioas_id: 1, iova: 0x1000000n, length: 0x1000n }), FAIL('EBUSY')); // locked
    s.step(ioctl(3, 'IOMMU_IOAS_UNMAP', { ioas_id: 1, iova: 0x1001000n, length: 0x1000n }), OK({ length: 0x1000n }));
    s.step(q(1, 0x1000800n, 0x800n), OK({ out_hw_queue_id: 10 }));
    s.step(destroy(9), FAIL('EBUSY')); // the internal access: its driver holds it
    s.step(destroy(8), FAIL('EBUSY')); // queue 1 depends on queue 0
    s.step(destroy(6), FAIL('EBUSY'));
    s.step(destroy(10), OK());
    s.step(destroy(8), OK());
    s.step(ioctl(3, 'IOMMU_IOAS_UNMAP', { ioas_id: 1, iova: 0x1000000n, length: 0x1000n }), OK({ length: 0x1000n }));
    s.step(destroy(9), FAIL('ENOENT')); // the internal access went with the queue
    s.step(q(1, 0x1000000n), OK({ out_hw_queue_id: 8 }), 'disagree');
  });

  check('machines.veventq.lifecycle', () => {
    const s = viommuWorld();
    const alloc = () => ioctl(3, 'IOMMU_VEVENTQ_ALLOC', { viommu_id: 6, type: K('IOMMU_VEVENTQ_TYPE_SELFTEST'), veventq_depth: 2 });
    s.step(testOp(3, 'IOMMU_TEST_OP_TRIGGER_VEVENT', { trigger_vevent: { dev_id: 3 } }), FAIL('ENOENT')); // not attached through the vIOMMU
    s.step(alloc(), OK({ out_veventq_id: 8, out_veventq_fd: 4 }));
    s.step(alloc(), FAIL('EEXIST'));
    s.step(ioctl(3, 'IOMMU_VDEVICE_ALLOC', { viommu_id: 6, dev_id: 3, virt_id: 0x99n }), OK({ out_vdevice_id: 9 }));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 7 } }), OK({ mock_domain_replace: { pt_id: 7 } }));
    s.step(testOp(3, 'IOMMU_TEST_OP_TRIGGER_VEVENT', { trigger_vevent: { dev_id: 3 } }), OK());
    s.step({ op: 'read', fd: 4, count: 64 }, RESULT({ ret: 16, errno: 0 }));
    s.step(destroy(8), FAIL('EBUSY')); // its fd holds it
    s.step(destroy(6), FAIL('EBUSY'));
    s.step({ op: 'close', fd: 4 }, RESULT({ ret: 0, errno: 0 }));
    s.step(destroy(8), OK());
    s.step(alloc(), OK({ out_veventq_id: 8, out_veventq_fd: 4 }));
    s.step(destroy(8), OK(), 'disagree');
  });

  const pasidWorld = () => {
    const s = mockWorld('7.3', K('MOCK_FLAGS_DEVICE_PASID'));
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: NEST_PARENT }), OK({ out_hwpt_id: 5 }));
    s.step(nested(3, 5, ALLOC_PASID), OK({ out_hwpt_id: 6 }));
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: ALLOC_PASID }), OK({ out_hwpt_id: 7 }));
    return s;
  };
  const pasidOp = (op: string, pasid: number, pt: number) =>
    testOp(3, op, op === 'IOMMU_TEST_OP_PASID_DETACH' ? { id: 2, pasid_detach: { pasid } } : { id: 2, pasid_attach: { pasid, pt_id: pt } });
  const pcheck = (pasid: number, hwpt: number) => testOp(3, 'IOMMU_TEST_OP_PASID_CHECK_HWPT', { id: 2, pasid_check: { pasid, hwpt_id: hwpt } });

  check('machines.pasid.attach-replace-detach', () => {
    const s = pasidWorld();
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 7 } }), OK({ mock_domain_replace: { pt_id: 7 } }));
    s.step(pasidOp('IOMMU_TEST_OP_PASID_DETACH', 100, 0), OK()); // not attached: a no-op
    s.step(pcheck(100, 0), OK());
    s.step(pasidOp('IOMMU_TEST_OP_PASID_REPLACE', 100, 6), FAIL('EINVAL')); // nothing to replace
    s.step(pasidOp('IOMMU_TEST_OP_PASID_ATTACH', 100, 6), OK({ pasid_attach: { pt_id: 6 } }));
    s.step(pcheck(100, 6), OK());
    s.step(pcheck(100, 7), FAIL('EINVAL'));
    s.step(pcheck(100, 0), FAIL('EINVAL'));
    s.step(pasidOp('IOMMU_TEST_OP_PASID_ATTACH', 100, 6), FAIL('EBUSY'));
    s.step(destroy(6), FAIL('EBUSY'));
    s.step(pasidOp('IOMMU_TEST_OP_PASID_REPLACE', 100, 7), OK({ pasid_attach: { pt_id: 7 } }));
    s.step(pcheck(100, 7), OK());
    s.step(destroy(6), OK());
    s.step(pasidOp('IOMMU_TEST_OP_PASID_DETACH', 100, 0), OK());
    s.step(pcheck(100, 0), OK());
    s.step(pcheck(100, 7), OK(), 'disagree');
  });

  check('machines.pasid.compat-rules', () => {
    const s = pasidWorld();
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 5 } }), OK({ mock_domain_replace: { pt_id: 5 } }));
    s.step(pasidOp('IOMMU_TEST_OP_PASID_ATTACH', 100, 7), FAIL('EINVAL')); // the RID's HWPT is not PASID-compatible
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 7 } }), OK({ mock_domain_replace: { pt_id: 7 } }));
    s.step(pasidOp('IOMMU_TEST_OP_PASID_ATTACH', 100, 5), FAIL('EINVAL')); // the parent is not PASID-compatible
    s.step(pasidOp('IOMMU_TEST_OP_PASID_ATTACH', 100, 1), FAIL('EINVAL')); // an IOAS's automatic HWPT never is
    s.step(pasidOp('IOMMU_TEST_OP_PASID_ATTACH', 100, 6), OK({ pasid_attach: { pt_id: 6 } }));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 5 } }), FAIL('EINVAL')); // RID to an incompatible HWPT with a PASID attached
    s.step(pasidOp('IOMMU_TEST_OP_PASID_REPLACE', 100, 1), FAIL('EINVAL'));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 5 } }), OK({ mock_domain_replace: { pt_id: 5 } }), 'disagree');
  });

  check('machines.pasid.unbind-detaches', () => {
    const s = scenario('7.3', [{ name: 'vtd0', dirty: true, coherent: true }]);
    s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    s.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
    s.step({ op: 'device_create', spec: { iommu: 'vtd0', pasidWidth: 20 } }, RESULT({ device: 1, group: 1 }));
    s.step({ op: 'open_device', device: 1 }, RESULT({ fd: 4 }));
    s.step(ioctl(4, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: 3 }), OK({ out_devid: 2 }));
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 2, pt_id: 1, flags: ALLOC_PASID }), OK({ out_hwpt_id: 3 }));
    s.step(ioctl(4, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { flags: K('VFIO_DEVICE_ATTACH_PASID'), pasid: 5, pt_id: 3 }), OK({ pt_id: 3 }));
    s.step(ioctl(4, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { flags: K('VFIO_DEVICE_ATTACH_PASID'), pasid: 5, pt_id: 3 }), OK({ pt_id: 3 })); // the cdev replaces
    s.step(destroy(3), FAIL('EBUSY'));
    s.step({ op: 'close', fd: 4 }, RESULT({ ret: 0, errno: 0 })); // unbind detaches the PASID
    s.step(destroy(3), OK());
    s.step(destroy(1), FAIL('EBUSY'), 'disagree');
  });

  check('machines.fault.lifecycle', () => {
    const s = mockWorld('6.12');
    s.step(ioctl(3, 'IOMMU_FAULT_QUEUE_ALLOC'), OK({ out_fault_id: 5, out_fault_fd: 4 }));
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: FAULT_ID, fault_id: 5 }), FAIL('EOPNOTSUPP')); // 6.12: nested only
    s.step(ioctl(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: NEST_PARENT }), OK({ out_hwpt_id: 6 }));
    s.step(nested(3, 6, FAULT_ID, { fault_id: 99 }), FAIL('ENOENT'));
    s.step(nested(3, 6, FAULT_ID, { fault_id: 5 }), OK({ out_hwpt_id: 7 }));
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 7 } }, '6.12'), OK({ mock_domain_replace: { pt_id: 7 } }));
    s.step(testOp(3, 'IOMMU_TEST_OP_TRIGGER_IOPF', { trigger_iopf: { dev_id: 3, pasid: 0, grpid: 1, perm: 1, addr: 0x1000n } }, '6.12'), OK());
    expect(s.states(5)).toEqual(['live.fd.open', 'live.queue.pending']);
    s.step({ op: 'read', fd: 4, count: 80 }, RESULT({ ret: 40, errno: 0 }));
    s.step({ op: 'write', fd: 4, data: new Uint8Array(8) }, RESULT({ ret: 8, errno: 0 }));
    expect(s.states(5)).toEqual(['live.fd.open', 'live.queue.empty']);
    s.step(destroy(5), FAIL('EBUSY')); // fd and HWPT hold it
    s.step({ op: 'close', fd: 4 }, RESULT({ ret: 0, errno: 0 }));
    s.step(destroy(5), FAIL('EBUSY')); // the HWPT still does
    s.step(testOp(3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: 2, mock_domain_replace: { pt_id: 1 } }, '6.12'), OK({ mock_domain_replace: { pt_id: 4 } }));
    s.step(destroy(7), OK());
    s.step(destroy(5), OK());
    const t = scenario('7.3');
    t.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    t.step(ioctl(3, 'IOMMU_IOAS_ALLOC'), OK({ out_ioas_id: 1 }));
    t.step(testOp(3, 'IOMMU_TEST_OP_TRIGGER_IOPF', { trigger_iopf: { dev_id: 1 } }), FAIL('ENOENT')); // an IOAS is no device
    t.step(ioctl(3, 'IOMMU_FAULT_QUEUE_ALLOC'), OK({ out_fault_id: 2, out_fault_fd: 4 }));
    t.step(destroy(2), OK(), 'disagree');
  });

  check('machines.kvm.coherency-states', () => {
    const s = scenario('7.3', [
      { name: 'vtd0', dirty: true, coherent: true },
      { name: 'vtd1', dirty: false, coherent: false },
    ]);
    s.step({ op: 'open', node: 'iommu' }, RESULT({ fd: 3 }));
    s.step({ op: 'kvm_create' }, RESULT({ vm: 1 }));
    s.step({ op: 'device_create', spec: { iommu: 'vtd0' } }, RESULT({ device: 1, group: 1 }));
    s.step({ op: 'device_create', spec: { iommu: 'vtd1' } }, RESULT({ device: 2, group: 2 }));
    s.step({ op: 'open_device', device: 1 }, RESULT({ fd: 4 }));
    s.step({ op: 'open_device', device: 2 }, RESULT({ fd: 5 }));
    s.step({ op: 'kvm_state', vm: 1 }, RESULT({ noncoherentDma: false, registeredFds: [] }));
    s.step({ op: 'kvm_vfio_add', vm: 1, fd: 3 }, OP_FAIL('EINVAL')); // an iommufd is no VFIO file
    s.step({ op: 'kvm_vfio_add', vm: 1, fd: 4 }, RESULT({ ret: 0, errno: 0 }));
    s.step({ op: 'kvm_vfio_add', vm: 1, fd: 4 }, OP_FAIL('EEXIST'));
    s.step({ op: 'kvm_state', vm: 1 }, RESULT({ noncoherentDma: false, registeredFds: [4] }));
    s.step({ op: 'kvm_vfio_add', vm: 1, fd: 5 }, RESULT({ ret: 0, errno: 0 }));
    s.step({ op: 'kvm_state', vm: 1 }, RESULT({ noncoherentDma: true, registeredFds: [4, 5] }));
    s.step({ op: 'kvm_vfio_del', vm: 1, fd: 5 }, RESULT({ ret: 0, errno: 0 }));
    s.step({ op: 'kvm_state', vm: 1 }, RESULT({ noncoherentDma: false, registeredFds: [4] })); // re-derived
    s.step({ op: 'kvm_vfio_del', vm: 1, fd: 5 }, OP_FAIL('ENOENT'));
    s.step({ op: 'kvm_vfio_add', vm: 1, fd: 5 }, RESULT({ ret: 0, errno: 0 }));
    s.step({ op: 'kvm_state', vm: 1 }, RESULT({ noncoherentDma: false, registeredFds: [4, 5] }), 'disagree');
  });
});
