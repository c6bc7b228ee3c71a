/**
 * Where the 7.3 (and 6.12) handlers check what, against the kernel functions
 * that decide it (issue 8, item 2). The corpus programs order.* show the same
 * rules on the kernel lanes.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { EBUSY, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP } from '../lib/errno.ts';
import { IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_SELFTEST, MOCK_APERTURE_START } from '../../spec/uapi/constants.ts';
import { PROFILES, type Profile } from '../../spec/uapi/profiles.ts';
import type { IommufdDevice, IommufdHwptPaging, IommufdIoas } from './iommufd_private.ts';
import { iommufdHwPagetableAttach, iommufdHwPagetableDetach } from './hw_pagetable.ts';
import { iommufdObjectRemove } from './object.ts';
import { ioptAreaAddAccess, ioptAreaRemoveAccess } from './pages.ts';
import { buffer, ioasAlloc, map, newEnv, P, unmap, type Env } from '../testing/testutil.ts';
import { boundDevice, destroy, hwptAlloc, mockDomain, mockReplace } from '../testing/devtestutil.ts';

const A = BigInt(MOCK_APERTURE_START);
const ioasOf = (env: Env, id: number): IommufdIoas => env.ctx.objects.load(id) as IommufdIoas;

describe('handler check order (issue 8 item 2)', () => {
  check('ref.ioas_unmap.locked-area-ebusy-before-range', () => {
    const env = newEnv('7.3');
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 2 * 4096);
    expect(map(env, ioas, buf, 2n * P, A).errno).toBe(0);
    const area = ioasOf(env, ioas).iopt.areas[0]!;
    // An internal access (a HW_QUEUE's) pins the first page and locks the area (pages.c iopt_area_add_access, lock_area).
    expect(ioptAreaAddAccess(area, area.firstIndex, area.firstIndex, false, true).errno).toBe(0);
    expect(area.numLocks).toBe(1);
    // iopt_unmap_iova_range: num_locks is checked before the range, so a cut is EBUSY, not ENOENT.
    expect(unmap(env, ioas, A, P).errno).toBe(EBUSY);
    expect(unmap(env, ioas, A + P, P).errno).toBe(EBUSY);
    expect(unmap(env, ioas, A, 2n * P).errno).toBe(EBUSY);
    ioptAreaRemoveAccess(area, area.firstIndex, area.firstIndex, true);
    expect(unmap(env, ioas, A, P).errno).toBe(ENOENT);
    expect(unmap(env, ioas, A, 2n * P)).toEqual({ errno: 0, length: 2n * P });
  });

  check('ref.hwpt_alloc.nested-flags-per-profile', () => {
    // hw_pagetable.c iommufd_hwpt_nested_alloc: the flag mask (6.12: FAULT_ID_VALID;
    // 7.3: FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID) comes before the parent checks.
    const want: Record<Profile, number> = { '6.12': EOPNOTSUPP, '7.3': EINVAL };
    for (const profile of PROFILES) {
      const env = newEnv(profile);
      const ioas = ioasAlloc(env);
      const md = mockDomain(env, ioas);
      const data = buffer(env, 4096);
      const nested = (pt: number) =>
        hwptAlloc(env, { dev_id: md.idev, pt_id: pt, flags: IOMMU_HWPT_ALLOC_PASID, data_type: IOMMU_HWPT_DATA_SELFTEST, data_len: 8, data_uptr: data }).errno;
      expect({ profile, auto: nested(md.hwpt) }).toEqual({ profile, auto: want[profile] });
      const plain = hwptAlloc(env, { dev_id: md.idev, pt_id: ioas });
      expect(plain.errno).toBe(0);
      expect({ profile, plain: nested(plain.id) }).toEqual({ profile, plain: want[profile] });
    }
  });

  check('ref.hwpt_alloc.nested-needs-driver-op', () => {
    // iommufd_hwpt_nested_alloc tests !ops->domain_alloc_nested (6.12: domain_alloc_user) with the
    // flags, before the parent: on 7.3 only intel_iommu_ops and mock_ops have it, so an AMD or
    // SMMUv3 device asking to nest on another driver's parent is EOPNOTSUPP, a VT-d one EINVAL;
    // on 6.12 every driver has domain_alloc_user, and the foreign parent is EINVAL for all.
    for (const profile of PROFILES) {
      const env = newEnv(profile);
      const ioas = ioasAlloc(env);
      const md = mockDomain(env, ioas);
      const parent = hwptAlloc(env, { dev_id: md.idev, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
      expect(parent.errno).toBe(0);
      const data = buffer(env, 4096);
      const onMockParent = (iommu: string): number => hwptAlloc(env, { dev_id: boundDevice(env, { iommu }).devid, pt_id: parent.id, data_type: IOMMU_HWPT_DATA_SELFTEST, data_len: 8, data_uptr: data }).errno;
      const got = { profile, vtd0: onMockParent('vtd0'), amd0: onMockParent('amd0'), smmu0: onMockParent('smmu0') };
      const foreign = profile === '6.12' ? EINVAL : EOPNOTSUPP;
      expect(got).toEqual({ profile, vtd0: EINVAL, amd0: foreign, smmu0: foreign });
    }
  });

  check('ref.replace.fail-nth-steps-as-kernel', () => {
    // The errno of each n for MOCK_DOMAIN_REPLACE, as linux-7.3 and linux-6.12 answer it
    // (corpus order.replace_fail_nth): iommufd_get_object twice, for another IOAS
    // iopt_table_enforce_dev_resv_regions, then iommufd_hwpt_replace_device's kzalloc;
    // iommu_replace_group_handle allocates nothing.
    for (const profile of PROFILES) {
      const sweep = (other: boolean): number[] => {
        const out: number[] = [];
        for (let n = 1; ; n++) {
          const env = newEnv(profile);
          const ioas = ioasAlloc(env);
          const md = mockDomain(env, ioas);
          const target = hwptAlloc(env, { dev_id: md.idev, pt_id: other ? ioasAlloc(env) : ioas }).id;
          env.proc.faults.arm(n);
          const r = mockReplace(env, md.stdev, target);
          const injected = env.proc.faults.injected;
          env.proc.faults.disarm();
          out.push(r.errno);
          if (!injected) return out;
        }
      };
      expect({ profile, same: sweep(false) }).toEqual({ profile, same: [ENOENT, ENOENT, ENOMEM, 0] });
      expect({ profile, other: sweep(true) }).toEqual({ profile, other: [ENOENT, ENOENT, EINVAL, ENOMEM, 0] });
    }
  });

  check('ref.attach.fail-nth-steps-in-kernel-order', () => {
    // device.c iommufd_hw_pagetable_attach for the first device of a group, one
    // fail-nth at a time. 7.3: kzalloc(attach) → ENOMEM; xa_insert into the
    // device_array (absorbed: the xarray retries the node allocation) → attaches;
    // iopt_table_enforce_dev_resv_regions → EINVAL; kzalloc(handle) → ENOMEM;
    // then no more steps. 6.12: the reserved regions, then the handle.
    const want: Record<Profile, number[]> = { '6.12': [-EINVAL, -ENOMEM, 0], '7.3': [-ENOMEM, 0, -EINVAL, -ENOMEM, 0] };
    for (const profile of PROFILES) {
      const got: number[] = [];
      for (let n = 1; n < 10; n++) {
        const env = newEnv(profile);
        const ioas = ioasAlloc(env);
        const md = mockDomain(env, ioas);
        const hwpt = hwptAlloc(env, { dev_id: md.idev, pt_id: ioasAlloc(env) }).id;
        const idev = env.ctx.objects.load(md.idev) as IommufdDevice;
        // Take the device off its group's HWPT, as a detach does.
        iommufdHwPagetableDetach(idev);
        env.proc.faults.arm(n);
        const rc = iommufdHwPagetableAttach(env.ctx.objects.load(hwpt) as IommufdHwptPaging, idev);
        const injected = env.proc.faults.injected;
        env.proc.faults.disarm();
        got.push(rc);
        if (!injected) break;
      }
      expect({ profile, got }).toEqual({ profile, got: want[profile] });
    }
  });

  check('ref.ioas.destroy-warns-never-throws', () => {
    // ioas.c iommufd_ioas_destroy: WARN_ON(rc && rc != -ENOENT) when iopt_unmap_all
    // fails, and the table is freed anyway. Unreachable through the uAPI (whatever
    // locks an area also holds the IOAS); forced here with an internal access.
    const env = newEnv('7.3');
    const ioas = ioasAlloc(env);
    expect(map(env, ioas, buffer(env, 4096), P, A).errno).toBe(0);
    const area = ioasOf(env, ioas).iopt.areas[0]!;
    expect(ioptAreaAddAccess(area, area.firstIndex, area.firstIndex, false, true).errno).toBe(0);
    expect(() => iommufdObjectRemove(env.ctx, ioas)).not.toThrow();
    expect(env.ctx.warnings).toEqual([`iommufd_ioas_destroy: iopt_unmap_all of IOAS ${ioas} failed (EBUSY)`]);
    expect(destroy(env, ioas)).toBe(ENOENT);
  });
});
