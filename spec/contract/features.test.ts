import { describe, expect } from 'vitest';
import { check } from '../clauses/check.ts';
import { enumDef } from '../uapi/lookup.ts';
import { FEATURES, featuresFor } from './features.ts';

describe('capability features', () => {
  check('adapter.features.are-uapi-values', () => {
    for (const f of FEATURES) {
      const inSome = (['6.12', '7.3'] as const).some((p) => enumDef(p, f.enumName)?.members.some((m) => m.name === f.name));
      expect(inSome, `${f.name} is a member of ${f.enumName}`).toBe(true);
    }
    const names = (p: '6.12' | '7.3') => featuresFor(p).map((f) => f.name);
    // 6.12 has no vIOMMU, vEVENTQ, HW queue or PASID allocation flag; 7.3 has all of them.
    expect(names('6.12')).not.toContain('IOMMU_VIOMMU_TYPE_SELFTEST');
    expect(names('6.12')).not.toContain('IOMMU_HWPT_ALLOC_PASID');
    expect(names('6.12')).toContain('IOMMU_HWPT_DATA_SELFTEST');
    expect(names('7.3')).toEqual(FEATURES.map((f) => f.name));
  });
});
