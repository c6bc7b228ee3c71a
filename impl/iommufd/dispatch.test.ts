/**
 * The reference's ioctl entry points apply spec/abi's dispatch rules and
 * nothing else before a handler: for random command numbers, sizes and
 * argument bytes placed right before an unmapped page (so the readable prefix
 * ends there), every error the reference returns without running a handler
 * is the errno decodeIoctl computes from those same bytes, and what the
 * reference decodes (struct bytes, size) is what decodeIoctl decodes (EFAULT vs E2BIG
 * ordering, min sizes, the 6.12 test-table ENOTTY/EFAULT quirk), on
 * /dev/iommu (VFIO compat numbers included) and on a VFIO device cdev.
 */
import { describe, expect } from 'vitest';
import { sysRet } from '../process/file.ts';
import fc from 'fast-check';
import { check } from '../../spec/clauses/check.ts';
import { argBytes, decodeIoctl } from '../../spec/abi/dispatch.ts';
import { commandsFor } from '../../spec/uapi/lookup.ts';
import { requireLayout } from '../../spec/uapi/layout.ts';
import { PROT_RW } from '../process/index.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { newEnv } from '../testing/testutil.ts';
import { readUserPrefix } from './ucmd.ts';
import { iommufdIoctlDecode } from './main.ts';
import { machineFor } from '../platform/index.ts';
import { vfioDeviceIoctlDecode, vfioDeviceOpen, type VfioDeviceFile } from './vfio_cdev.ts';
import { propertyRuns } from '../../spec/testing/property-budget.ts';
import { IOMMUFD_TYPE } from '../../spec/uapi/constants.ts';

const PAGE = 4096;

function requestArb(profile: Profile): fc.Arbitrary<number> {
  const known = commandsFor(profile).filter((c) => c.fd === 'iommufd').map((c) => c.request);
  return fc.oneof(
    fc.constantFrom(...known),
    fc.integer({ min: 0x80, max: 0xa2 }).map((nr) => (IOMMUFD_TYPE << 8) | nr), // _IO numbers: mismatched for the extensible commands
    fc.integer({ min: 0x80, max: 0xa2 }).chain((nr) => fc.integer({ min: 0, max: 0x3fff }).map((sz) => ((3 << 30) | (sz << 16) | (IOMMUFD_TYPE << 8) | nr) >>> 0)),
  );
}

/** Argument bytes with the u32 size first: near the struct size, zero or non-zero tails, huge sizes. */
function argArb(): fc.Arbitrary<{ size: number; bytes: Uint8Array }> {
  return fc
    .record({
      size: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(0xffffffff, 4096, 8192)),
      len: fc.integer({ min: 0, max: 320 }),
      nonZeroAt: fc.option(fc.integer({ min: 4, max: 319 })),
    })
    .map(({ size, len, nonZeroAt }) => {
      const bytes = new Uint8Array(len);
      if (len >= 4) new DataView(bytes.buffer).setUint32(0, size, true);
      if (nonZeroAt !== null && nonZeroAt < len) bytes[nonZeroAt] = 0x5a;
      return { size, bytes };
    });
}

function agreesWithSpecAbi(profile: Profile): void {
  {
    const env = newEnv(profile);
    // Two pages, then the guard gap (unmapped): the argument ends where memory ends.
    const base = env.proc.mmap(2 * PAGE, PROT_RW)!;
    const end = base + BigInt(2 * PAGE);
    expect(env.proc.copyFromUser(end, 1)).toBeNull();
    fc.assert(
      fc.property(requestArb(profile), argArb(), (cmd, { bytes }) => {
        const va = end - BigInt(bytes.length);
        expect(env.proc.copyToUser(va, bytes)).toBe(true);
        const want = decodeIoctl(profile, 'iommufd', cmd, bytes.length ? argBytes(bytes, va) : { value: va, readable: null });
        const what = `cmd ${cmd.toString(16)} len ${bytes.length}`;
        // What the reference decodes from the process's memory is what spec/abi decodes from the bytes.
        expect(iommufdIoctlDecode(env.ctx, cmd, va), what).toEqual(want);
        if (want.ok) return; // a handler runs: other tests pin what it does
        expect(sysRet(env.file.ops.ioctl!(env.file, cmd, va)).errno, what).toBe(want.errno);
      }),
      propertyRuns(400),
    );
  }
}

/** The same over a VFIO device cdev, unbound and bound (BIND first; argsz/minsz; 7.3 BIND's copy_struct_from_user). */
function cdevAgreesWithSpecAbi(profile: Profile): void {
  const env = newEnv(profile);
  const base = env.proc.mmap(2 * PAGE, PROT_RW)!;
  const end = base + BigInt(2 * PAGE);
  const { device } = machineFor(env.proc, profile).deviceCreate({ iommu: 'vtd0' }) as { device: number };
  const r = vfioDeviceOpen(env.proc, profile, device);
  if (!('file' in r)) throw new Error(`open_device: ${r.errno}`);
  const df = r.file.private_data as VfioDeviceFile;
  const cdevRequests = commandsFor(profile)
    .filter((c) => c.fd === 'vfio-device')
    .map((c) => c.request);
  const requestArb = fc.oneof(fc.constantFrom(...cdevRequests), fc.integer({ min: 0x3b00, max: 0x3bff }));
  for (const bound of [false, true]) {
    df.accessGranted = bound; // what BIND sets; the decode only reads it
    fc.assert(
      fc.property(requestArb, argArb(), (cmd, { bytes }) => {
        const va = end - BigInt(bytes.length);
        expect(env.proc.copyToUser(va, bytes)).toBe(true);
        const want = decodeIoctl(profile, 'vfio-device', cmd, bytes.length ? argBytes(bytes, va) : { value: va, readable: null }, { deviceBound: bound });
        const what = `cmd ${cmd.toString(16)} len ${bytes.length} bound ${bound}`;
        expect(vfioDeviceIoctlDecode(df, cmd, va), what).toEqual(want);
        if (want.ok) return;
        expect(sysRet(r.file.ops.ioctl!(r.file, cmd, va)).errno, what).toBe(want.errno);
      }),
      propertyRuns(300),
    );
  }
  df.accessGranted = false;
}

describe('dispatch is spec/abi', () => {
  check('ref.dispatch.spec-abi.6.12', () => agreesWithSpecAbi('6.12'));
  check('ref.dispatch.spec-abi.7.3', () => agreesWithSpecAbi('7.3'));
  check('ref.dispatch.vfio-cdev-spec-abi.6.12', () => cdevAgreesWithSpecAbi('6.12'));
  check('ref.dispatch.vfio-cdev-spec-abi.7.3', () => cdevAgreesWithSpecAbi('7.3'));
});

describe('readUserPrefix', () => {
  check('ref.dispatch.user-prefix-pagewise', () => {
    const env = newEnv();
    const base = env.proc.mmap(3 * PAGE, PROT_RW)!;
    // The middle page unreadable: the prefix stops at the first fault, whatever follows.
    env.proc.mprotect(base + BigInt(PAGE), PAGE, { read: false, write: false });
    const at = base + BigInt(PAGE - 8);
    expect(readUserPrefix(env.proc, at, 100, 100)!.length).toBe(8);
    expect(readUserPrefix(env.proc, base + BigInt(PAGE), 100, 100)).toBeNull();
    // A non-zero byte beyond zeroFrom ends the scan after its page (copy_struct_from_user stops there: E2BIG).
    const big = env.proc.mmap(4 * PAGE, PROT_RW)!;
    env.proc.copyToUser(big + 10n, new Uint8Array([1]));
    expect(readUserPrefix(env.proc, big, 4 * PAGE, 0)!.length).toBe(PAGE);
    expect(readUserPrefix(env.proc, big, 4 * PAGE, 11)!.length).toBe(4 * PAGE);
    // The bytes are the memory's, across page boundaries (the prefix is read a page at a time into a growing buffer).
    const pattern = Uint8Array.from({ length: 3 * PAGE }, (_, i) => (i * 7 + 1) & 0xff);
    env.proc.copyToUser(big + 5n, pattern);
    expect(readUserPrefix(env.proc, big + 5n, 3 * PAGE, 3 * PAGE)).toStrictEqual(pattern);
    // sizes of every struct the prefix must cover fit under the bound userArgOf uses
    for (const c of commandsFor('7.3')) if (c.struct) expect(requireLayout('7.3', c.struct).size).toBeLessThan(4096);
  });
});
