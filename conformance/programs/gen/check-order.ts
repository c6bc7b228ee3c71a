/**
 * Programs that show where 7.3's handlers check what, each against the kernel
 * function that decides it (issue 8, item 2). Not selftest ports: source.test
 * names the rule; every expected result names its kernel function in the
 * step's note and in the clause the description cites.
 */
import type { Profile } from '../../../spec/contract/types.ts';
import type { Json, StepExpect } from '../types.ts';
import { BUFFER_SIZE, err, hex, MOCK_APERTURE_START, ok, PAGE_SIZE, va, type ProgramBuilder, type TestDef } from './dsl.ts';

const BOTH: readonly Profile[] = ['6.12', '7.3'];
const SELFTEST_DATA: Json = { data: { u32s: ['IOMMU_TEST_IOTLB_DEFAULT', 0] } };
const A = hex(MOCK_APERTURE_START);

function orderTest(name: string, description: string, body: (p: ProgramBuilder) => void, o: { kernels?: readonly Profile[]; requires?: TestDef['requires'] } = {}): TestDef {
  return {
    name: `order.${name}`,
    description,
    source: { test: name, kernels: o.kernels ?? BOTH },
    ...(o.requires ? { requires: o.requires } : {}),
    build: (p) => {
      p.memAlloc();
      p.open();
      p.ioasAlloc('ioas');
      p.setDefaultMemoryLimit();
      body(p);
      p.teardown();
    },
  };
}

/** IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE with fail-nth n armed for it. */
function replaceFailNth(p: ProgramBuilder, n: number, pt: Json, expect: StepExpect, note: string): void {
  p.step('fail_nth', { nth: n }, {});
  p.test('MOCK_DOMAIN_REPLACE', '$stdev', 'mock_domain_replace', { pt_id: pt }, { expect, note: `fail-nth ${n}: ${note}` });
}

export const ORDER_TESTS: readonly TestDef[] = [
  orderTest(
    'unmap_locked_area',
    'Clause IOAS_UNMAP.LOCKED: an area a HW_QUEUE locks (area->num_locks, an internal access) refuses an unmap that only cuts it with EBUSY, not ENOENT: iopt_unmap_iova_range checks num_locks before the range. Once the queue is gone the same cut is ENOENT.',
    (p) => {
      p.mockDomain('$ioas');
      p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT' }, { expect: ok, bind: { parent: 'out.out_hwpt_id' } });
      p.ioctl('IOMMU_VIOMMU_ALLOC', { dev_id: '$idev', hwpt_id: '$parent', type: 'IOMMU_VIOMMU_TYPE_SELFTEST' }, { expect: ok, bind: { viommu: 'out.out_viommu_id' } });
      p.mapFixed('$ioas', va('buf'), 2 * PAGE_SIZE, A);
      p.ioctl(
        'IOMMU_HW_QUEUE_ALLOC',
        { viommu_id: '$viommu', type: 'IOMMU_HW_QUEUE_TYPE_SELFTEST', index: 0, nesting_parent_iova: A, length: String(PAGE_SIZE) },
        { expect: ok, bind: { q0: 'out.out_hw_queue_id' }, note: 'the queue pins its first page through an internal access: the two-page area is locked' },
      );
      p.ioctl('IOMMU_IOAS_UNMAP', { ioas_id: '$ioas', iova: A, length: String(PAGE_SIZE) }, { expect: err('EBUSY'), note: 'iopt_unmap_iova_range: num_locks before the range check (a cut, yet EBUSY)' });
      p.ioctl('IOMMU_IOAS_UNMAP', { ioas_id: '$ioas', iova: hex(MOCK_APERTURE_START + PAGE_SIZE), length: String(PAGE_SIZE) }, {
        expect: err('EBUSY'),
        note: 'iopt_unmap_iova_range: the other half of the same locked area',
      });
      p.unmap('$ioas', A, 2 * PAGE_SIZE, err('EBUSY'));
      p.destroy('$q0');
      p.ioctl('IOMMU_IOAS_UNMAP', { ioas_id: '$ioas', iova: A, length: String(PAGE_SIZE) }, { expect: err('ENOENT'), note: 'iopt_unmap_iova_range: unlocked, the cut is refused by the range check' });
      p.unmap('$ioas', A, 2 * PAGE_SIZE, ok, String(2 * PAGE_SIZE));
      p.destroy('$viommu');
      p.destroy('$parent');
    },
    { kernels: ['7.3'], requires: { commands: ['IOMMU_VIOMMU_ALLOC', 'IOMMU_HW_QUEUE_ALLOC'] } },
  ),
  orderTest(
    'nested_alloc_flags',
    'Clause HWPT_ALLOC.NESTED_PARENT: for a HWPT_PAGING pt_id, iommufd_hwpt_nested_alloc checks the flags (7.3: FAULT_ID_VALID and IOMMU_HWPT_ALLOC_PASID allowed; 6.12: FAULT_ID_VALID only) before the parent, so with the PASID flag an auto-domain or non-NEST_PARENT parent is EINVAL on 7.3 and the flag EOPNOTSUPP on 6.12.',
    (p) => {
      p.mockDomain('$ioas');
      p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$ioas' }, { expect: ok, bind: { plain: 'out.out_hwpt_id' } });
      const pasid = p.profile === '7.3' ? 'IOMMU_HWPT_ALLOC_PASID' : '8';
      const expect = p.profile === '7.3' ? err('EINVAL') : err('EOPNOTSUPP');
      const why = p.profile === '7.3' ? 'the PASID flag passes the flag mask; the parent is refused' : 'bit 3 is not a 6.12 nested flag';
      const nested = (parent: string, what: string): void => {
        p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: parent, flags: pasid, data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: 8, data_uptr: SELFTEST_DATA }, { expect, note: `iommufd_hwpt_nested_alloc, ${what}: ${why}` });
      };
      nested('$hwpt', 'auto-domain parent');
      nested('$plain', 'parent without NEST_PARENT');
      p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$plain', flags: 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING', data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: 8, data_uptr: SELFTEST_DATA }, {
        expect: err('EOPNOTSUPP'),
        note: 'iommufd_hwpt_nested_alloc: a paging-only flag fails the flag mask before the parent is looked at',
      });
      p.destroy('$plain');
    },
  ),
  orderTest(
    'replace_fail_nth',
    'Clause REPLACE.FALLIBLE_STEPS: the fallible steps of a replace to a HWPT, in the kernel’s order, one fail-nth at a time: the selftest object lookup and the pt_id lookup (iommufd_get_object: ENOENT), for another IOAS the reserved regions (iopt_table_enforce_dev_resv_regions: EINVAL), the attach handle (iommufd_hwpt_replace_device: kzalloc, ENOMEM); iommu_replace_group_handle then allocates nothing. Each failure leaves the device where it was.',
    (p) => {
      p.mockDomain('$ioas');
      p.ioasAlloc('ioas2');
      p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$ioas' }, { expect: ok, bind: { h1: 'out.out_hwpt_id' } });
      p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$ioas2' }, { expect: ok, bind: { h2: 'out.out_hwpt_id' } });
      // Same IOAS: no reserved-region step.
      replaceFailNth(p, 1, '$h1', err('ENOENT'), 'iommufd_get_object(selftest object)');
      replaceFailNth(p, 2, '$h1', err('ENOENT'), 'iommufd_get_object(pt_id)');
      replaceFailNth(p, 3, '$h1', err('ENOMEM'), 'iommufd_hwpt_replace_device: kzalloc(handle)');
      replaceFailNth(p, 4, '$h1', ok, 'no fourth step: the device moves to h1');
      // Another IOAS: the reserved regions are enforced in it first.
      replaceFailNth(p, 1, '$h2', err('ENOENT'), 'iommufd_get_object(selftest object)');
      replaceFailNth(p, 2, '$h2', err('ENOENT'), 'iommufd_get_object(pt_id)');
      replaceFailNth(p, 3, '$h2', err('EINVAL'), 'iopt_table_enforce_dev_resv_regions: iommufd_should_fail');
      replaceFailNth(p, 4, '$h2', err('ENOMEM'), 'iommufd_hwpt_replace_device: kzalloc(handle)');
      replaceFailNth(p, 5, '$h2', ok, 'no fifth step: the device moves to h2');
      p.mockDomainReplace('$stdev', '$h1');
      p.destroy('$h2');
      p.destroy('$stdev');
      p.destroy('$h1');
    },
    { requires: { ops: ['fail_nth'] } },
  ),
  orderTest(
    'ioas_destroy_unmaps',
    'Clause IOAS.DESTROY_UNMAPS: destroying an IOAS unmaps what it still maps and unpins it (iommufd_ioas_destroy → iopt_unmap_all); the kernel only WARNs if that fails, so IOMMU_DESTROY of an IOAS that nothing references always succeeds.',
    (p) => {
      p.mockDomain('$ioas');
      p.mapFixed('$ioas', va('buf'), BUFFER_SIZE, A);
      p.checkRefs(va('buf'), BUFFER_SIZE, 1);
      p.destroy('$ioas', err('EBUSY'));
      p.destroy('$stdev');
      p.ioasAlloc('ioas2');
      p.mapFixed('$ioas2', va('buf'), BUFFER_SIZE, A);
      p.mockDomain('$ioas2', 'b');
      p.checkRefs(va('buf'), BUFFER_SIZE, 1);
      p.destroy('$bstdev');
      p.destroy('$ioas', ok);
      p.destroy('$ioas2', ok);
      p.checkRefs(va('buf'), BUFFER_SIZE, 0);
    },
  ),
];
