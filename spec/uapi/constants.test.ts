import { describe, expect, it } from 'vitest';
import * as constants from './constants.ts';
import { cValues } from './names.ts';
import { ERRNO, ERRNO_ALIASES } from './errno.ts';
import { PROFILES } from './profiles.ts';

describe('spec/uapi/constants.ts', () => {
  it('exports exactly the names cValues() gives, errnos aside, with their values', () => {
    const errnos = new Set([...Object.keys(ERRNO), ...Object.keys(ERRNO_ALIASES)]);
    const want: Record<string, number> = {};
    for (const p of PROFILES) for (const [k, v] of Object.entries(cValues(p))) if (!errnos.has(k)) want[k] = v;
    const got = Object.fromEntries(Object.entries(constants).filter(([k]) => k !== 'uapiValue'));
    expect(got).toEqual(want);
  });
});
