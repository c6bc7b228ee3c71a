import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { cutAndUnmap, type Area } from './areas.ts';

const area = (start: bigint, last: bigint): Area => ({ start, last, file: false, locks: 0 });

describe('type1 v1 cuts (iopt_cut_iova, iopt_area_split)', () => {
  check('machines.areas.type1-cut-at-area-start', () => {
    const areas = [area(0x10000n, 0x13fffn)];
    // A cut after an area's first IOVA leaves it whole: the area is only partly inside, ENOENT, nothing unmapped.
    const atStart = cutAndUnmap(areas, 0x10001n, 0x17fffn);
    expect(atStart.errno).toBe('ENOENT');
    expect(atStart.unmapped).toBe(0n);
    expect(atStart.areas).toEqual(areas);
    // A cut inside splits it: the tail goes, the head stays.
    const inside = cutAndUnmap(areas, 0x12000n, 0x13fffn);
    expect(inside.errno).toBeUndefined();
    expect(inside.unmapped).toBe(0x2000n);
    expect(inside.areas).toEqual([area(0x10000n, 0x11fffn)]);
  });
});
