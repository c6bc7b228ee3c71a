import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { check } from '../clauses/check.ts';
import { PROFILES, type Profile } from '../uapi/profiles.ts';
import { commandByName, commandMinSize, commandStructSize, commandsFor } from '../uapi/index.ts';
import { ERRNO } from '../uapi/errno.ts';
import type { CommandDef } from '../uapi/types.ts';
import { decodeStruct, encodeStruct } from './codec.ts';
import { propertyRuns } from '../testing/property-budget.ts';
import { IOMMU_IOAS_MAP_FILE, IOMMU_IOAS_NOIOMMU_GET_PA, IOMMU_TEST_CMD, VFIO_CHECK_EXTENSION, VFIO_GET_API_VERSION, VFIO_SET_IOMMU } from '../uapi/constants.ts';
import {
  applyWrites,
  argBytes,
  argFault,
  argInt,
  argNull,
  decodeIoctl,
  encodeResponse,
  iommufdTableSize,
  vfioCopyExtension,
  type IoctlDecode,
  type StructDecode,
} from './dispatch.ts';

const extensible = (p: Profile): CommandDef[] => commandsFor(p).filter((c) => c.arg === 'extensible');
const argszCmds = (p: Profile): CommandDef[] => commandsFor(p).filter((c) => c.arg === 'vfio-argsz');

function sizes(p: Profile, c: CommandDef): { min: number; ksize: number } {
  const min = commandMinSize(p, c);
  const ksize = commandStructSize(p, c);
  if (min === undefined || ksize === undefined) throw new Error(c.name);
  return { min, ksize };
}

/** A buffer of `len` bytes with the leading u32 set to `size`, the rest `fill`. */
function buffer(len: number, size: number, fill = 0): Uint8Array {
  const b = new Uint8Array(Math.max(len, 4)).fill(fill);
  new DataView(b.buffer).setUint32(0, size, true);
  return b.subarray(0, Math.max(len, 4));
}

function errnoOf(d: IoctlDecode): number {
  return d.ok ? 0 : d.errno;
}

function structOk(d: IoctlDecode): StructDecode {
  if (!d.ok || (d.kind !== 'extensible' && d.kind !== 'vfio-argsz')) throw new Error(`expected a struct decode, got ${JSON.stringify(d, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
  return d;
}

const fdOf = (c: CommandDef): CommandDef['fd'] => c.fd;

describe.each(PROFILES)('iommufd dispatch (%s)', (profile) => {
  check('abi.extensible.short-is-einval', () => {
    for (const c of extensible(profile)) {
      const { min, ksize } = sizes(profile, c);
      for (const size of [0, 4, min - 1]) {
        expect({ cmd: c.name, size, errno: errnoOf(decodeIoctl(profile, 'iommufd', c.request, argBytes(buffer(ksize, size)))) }).toEqual({ cmd: c.name, size, errno: ERRNO.EINVAL });
      }
      expect(decodeIoctl(profile, 'iommufd', c.request, argBytes(buffer(ksize, min))).ok, c.name).toBe(true);
    }
  });

  check('abi.extensible.nonzero-tail-is-e2big', () => {
    for (const c of extensible(profile)) {
      const { ksize } = sizes(profile, c);
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 64 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (extra, at, byte) => {
          const b = buffer(ksize + extra, ksize + extra);
          b[ksize + (at % extra)] = byte;
          expect(errnoOf(decodeIoctl(profile, 'iommufd', c.request, argBytes(b)))).toBe(ERRNO.E2BIG);
        }),
        propertyRuns(20),
      );
      // A tail that cannot be read at all faults instead.
      expect(errnoOf(decodeIoctl(profile, 'iommufd', c.request, argBytes(buffer(ksize, ksize + 8))))).toBe(ERRNO.EFAULT);
    }
  });

  check('abi.extensible.zero-tail-accepted', () => {
    for (const c of extensible(profile)) {
      const { ksize } = sizes(profile, c);
      const b = buffer(ksize + 4096, ksize + 4096);
      b.fill(0xa5, 4, ksize); // struct content, zero tail
      const d = structOk(decodeIoctl(profile, 'iommufd', c.request, argBytes(b)));
      expect(d.size).toBe(ksize + 4096);
      expect(d.bytes.length).toBe(ksize);
      expect(Array.from(d.bytes.subarray(4))).toEqual(Array.from(b.subarray(4, ksize)));
      // Only the known struct is copied back.
      expect(encodeResponse(profile, d, d.value)[0]?.bytes.length).toBe(ksize);
    }
  });

  check('abi.extensible.short-zero-extended', () => {
    let shortable = 0;
    for (const c of extensible(profile)) {
      const { min, ksize } = sizes(profile, c);
      for (let size = min; size < ksize; size++) {
        shortable++;
        // The caller's memory holds garbage past `size`: the kernel must not read it.
        const b = buffer(ksize + 16, size, 0xee);
        const d = structOk(decodeIoctl(profile, 'iommufd', c.request, argBytes(b)));
        expect(Array.from(d.bytes.subarray(size))).toEqual(new Array<number>(ksize - size).fill(0));
        expect(Array.from(d.bytes.subarray(4, size))).toEqual(new Array<number>(size - 4).fill(0xee));
        // The response copies back min(size, sizeof): nothing past the caller's size is written.
        const writes = encodeResponse(profile, d, d.value);
        expect(writes).toHaveLength(1);
        expect(writes[0]?.offset).toBe(0);
        expect(writes[0]?.bytes.length).toBe(size);
        const after = applyWrites(b, writes);
        expect(Array.from(after.subarray(size))).toEqual(Array.from(b.subarray(size)));
      }
    }
    // Sizes in [min, sizeof): HWPT_ALLOC 24, GET_HW_INFO 8, IOMMU_TEST_CMD 4; 7.3 adds VIOMMU_ALLOC 16, VEVENTQ_ALLOC 4.
    expect(shortable).toBe(profile === '6.12' ? 36 : 56);
  });

  check('abi.dispatch.unknown-nr-is-enotty', () => {
    const enotty = (cmd: number, opts = {}): void => {
      expect({ cmd: cmd.toString(16), errno: errnoOf(decodeIoctl(profile, 'iommufd', cmd, argBytes(buffer(256, 64)), opts)) }).toEqual({ cmd: cmd.toString(16), errno: ERRNO.ENOTTY });
    };
    enotty(0x3b7f); // below the table, not a compat command
    enotty(0x3b00);
    enotty(0x3ba1); // past IOMMU_TEST_CMD
    enotty(0x3bff);
    enotty(0x3b75); // VFIO_IOMMU_DIRTY_PAGES: compat refuses it
    enotty(0x3b67); // VFIO_GROUP_GET_STATUS: not an iommufd command
    enotty(0x3b96); // nothing at 0x96 in either profile
    enotty(IOMMU_TEST_CMD, { testCmd: false }); // IOMMU_TEST_CMD without CONFIG_IOMMUFD_TEST
    // An in-table nr whose request number carries other bits (e.g. _IOWR size/dir, or another type) does not match.
    enotty(0xc0183b80);
    enotty(0x1280);
    if (profile === '6.12') {
      enotty(IOMMU_IOAS_MAP_FILE); // IOMMU_IOAS_MAP_FILE is 7.3 only
      enotty(IOMMU_IOAS_NOIOMMU_GET_PA);
    }
    // 7.3 commands are in the table of 7.3 only.
    const mapFile = IOMMU_IOAS_MAP_FILE;
    expect(errnoOf(decodeIoctl(profile, 'iommufd', mapFile, argBytes(buffer(40, 40))))).toBe(profile === '7.3' ? 0 : ERRNO.ENOTTY);
  });

  check('abi.dispatch.null-arg-is-efault', () => {
    for (const c of extensible(profile)) {
      expect({ cmd: c.name, errno: errnoOf(decodeIoctl(profile, 'iommufd', c.request, argNull())) }).toEqual({ cmd: c.name, errno: ERRNO.EFAULT });
      expect(errnoOf(decodeIoctl(profile, 'iommufd', c.request, argFault()))).toBe(ERRNO.EFAULT);
      // Readable size but the struct itself is cut short by unreadable memory.
      const { min } = sizes(profile, c);
      expect(errnoOf(decodeIoctl(profile, 'iommufd', c.request, argBytes(buffer(min - 1, min))))).toBe(ERRNO.EFAULT);
    }
    // Inside the table the size is read before the slot is checked: an empty slot faults first.
    if (profile === '6.12') {
      expect(errnoOf(decodeIoctl(profile, 'iommufd', IOMMU_IOAS_MAP_FILE, argNull()))).toBe(ERRNO.EFAULT);
      // Without IOMMU_TEST_CMD the table ends at 0x8e, so 0x8f goes to the compat path: ENOTTY without reading.
      expect(errnoOf(decodeIoctl(profile, 'iommufd', IOMMU_IOAS_MAP_FILE, argNull(), { testCmd: false }))).toBe(ERRNO.ENOTTY);
    }
    // Outside the table nothing is read: ENOTTY, not EFAULT.
    expect(errnoOf(decodeIoctl(profile, 'iommufd', 0x3b7f, argNull()))).toBe(ERRNO.ENOTTY);
  });

  it('sizes the ioctl table as main.c does', () => {
    expect(iommufdTableSize(profile, true)).toBe(0xa0 - 0x80 + 1);
    expect(iommufdTableSize(profile, false)).toBe(profile === '6.12' ? 0x0f : 0x16);
  });

  it('decodes IOMMU_TEST_CMD with the member its op selects', () => {
    const c = commandByName(profile, 'IOMMU_TEST_CMD');
    if (!c) throw new Error('IOMMU_TEST_CMD');
    const bytes = encodeStruct(profile, 'iommu_test_cmd', { size: 72, op: 2, id: 1 });
    const d = structOk(decodeIoctl(profile, 'iommufd', c.request, argBytes(bytes)));
    expect(d.value).toMatchObject({ op: 2, id: 1, mock_domain: { out_stdev_id: 0, out_hwpt_id: 0, out_idev_id: 0 } });
    // The minimum is offsetofend(last) = 68, one u32 short of sizeof.
    expect(sizes(profile, c)).toEqual({ min: 68, ksize: 72 });
  });
});

describe.each(PROFILES)('VFIO argsz (%s)', (profile) => {
  check('abi.vfio.argsz-below-minsz-is-einval', () => {
    const cmds = argszCmds(profile);
    expect(cmds.map((c) => c.name).sort()).toEqual(
      ['VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_DETACH_IOMMUFD_PT', 'VFIO_IOMMU_GET_INFO', 'VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA'].sort(),
    );
    for (const c of cmds) {
      const { min, ksize } = sizes(profile, c);
      for (const argsz of [0, min - 1]) {
        expect({ cmd: c.name, argsz, errno: errnoOf(decodeIoctl(profile, fdOf(c), c.request, argBytes(buffer(ksize, argsz)))) }).toEqual({ cmd: c.name, argsz, errno: ERRNO.EINVAL });
      }
      expect(decodeIoctl(profile, fdOf(c), c.request, argBytes(buffer(ksize, min))).ok, c.name).toBe(true);
      expect(errnoOf(decodeIoctl(profile, fdOf(c), c.request, argNull()))).toBe(ERRNO.EFAULT);
      // copy_from_user(minsz) comes before the argsz check, except where 7.3 reads argsz alone first.
      const cut = buffer(min - 1, 0);
      expect(errnoOf(decodeIoctl(profile, fdOf(c), c.request, argBytes(cut)))).toBe(c.vfioRead === 'get-argsz' ? ERRNO.EINVAL : ERRNO.EFAULT);
    }
  });

  check('abi.vfio.argsz-extra-ignored', () => {
    for (const c of argszCmds(profile)) {
      if (c.vfioTail !== 'ignore') continue;
      const { min, ksize } = sizes(profile, c);
      // argsz far beyond the struct, garbage after minsz: no E2BIG, nothing past minsz read.
      const b = buffer(ksize + 64, ksize + 64, 0x5a);
      const d = structOk(decodeIoctl(profile, fdOf(c), c.request, argBytes(b)));
      expect(d.size).toBe(ksize + 64);
      expect(Array.from(d.bytes.subarray(min))).toEqual(new Array<number>(ksize - min).fill(0));
      // argsz past the readable memory is not read either.
      expect(decodeIoctl(profile, fdOf(c), c.request, argBytes(buffer(min, 1 << 20, 0x5a))).ok).toBe(true);
    }
  });

  check('abi.vfio.bind-tail-per-profile', () => {
    const c = commandByName(profile, 'VFIO_DEVICE_BIND_IOMMUFD');
    if (!c) throw new Error('bind');
    const { ksize } = sizes(profile, c);
    const b = buffer(ksize + 8, ksize + 8);
    b[ksize + 3] = 1;
    // 6.12 copies minsz and ignores the rest; 7.3 uses copy_struct_from_user (E2BIG).
    expect(errnoOf(decodeIoctl(profile, 'vfio-device', c.request, argBytes(b)))).toBe(profile === '6.12' ? 0 : ERRNO.E2BIG);
    expect(ksize).toBe(profile === '6.12' ? 16 : 24);
  });

  it('VFIO device fd: only BIND before the device is bound', () => {
    const attach = commandByName(profile, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT');
    const bind = commandByName(profile, 'VFIO_DEVICE_BIND_IOMMUFD');
    if (!attach || !bind) throw new Error('cdev');
    expect(errnoOf(decodeIoctl(profile, 'vfio-device', attach.request, argBytes(buffer(16, 16)), { deviceBound: false }))).toBe(ERRNO.EINVAL);
    expect(decodeIoctl(profile, 'vfio-device', bind.request, argBytes(buffer(24, 16)), { deviceBound: false }).ok).toBe(true);
    expect(errnoOf(decodeIoctl(profile, 'vfio-device', 0x3b6f, argBytes(buffer(16, 16))))).toBe(ERRNO.ENOTTY);
  });

  it('int and none compat commands', () => {
    const ext = decodeIoctl(profile, 'iommufd', VFIO_CHECK_EXTENSION, argInt(3n));
    expect(ext).toMatchObject({ ok: true, kind: 'int', arg: 3n });
    expect(decodeIoctl(profile, 'iommufd', VFIO_SET_IOMMU, argInt(1n))).toMatchObject({ ok: true, kind: 'int', arg: 1n });
    expect(decodeIoctl(profile, 'iommufd', VFIO_GET_API_VERSION, argNull())).toMatchObject({ ok: true, kind: 'none' });
  });

  it('responses of the VFIO commands write what their handlers copy', () => {
    const info = commandByName(profile, 'VFIO_IOMMU_GET_INFO');
    const unmap = commandByName(profile, 'VFIO_IOMMU_UNMAP_DMA');
    const bind = commandByName(profile, 'VFIO_DEVICE_BIND_IOMMUFD');
    const attach = commandByName(profile, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT');
    const map = commandByName(profile, 'VFIO_IOMMU_MAP_DMA');
    if (!info || !unmap || !bind || !attach || !map) throw new Error('vfio');
    const dInfo = structOk(decodeIoctl(profile, 'iommufd', info.request, argBytes(buffer(20, 20))));
    expect(encodeResponse(profile, dInfo, { ...dInfo.value, argsz: 64 })[0]?.bytes.length).toBe(20);
    const dBind = structOk(decodeIoctl(profile, 'vfio-device', bind.request, argBytes(buffer(16, 16))));
    const w = encodeResponse(profile, dBind, { ...dBind.value, out_devid: 7 });
    expect(w).toEqual([{ offset: 12, bytes: new Uint8Array([7, 0, 0, 0]) }]);
    const dAttach = structOk(decodeIoctl(profile, 'vfio-device', attach.request, argBytes(buffer(12, 12))));
    expect(encodeResponse(profile, dAttach, { ...dAttach.value, pt_id: 9 })).toEqual([{ offset: 8, bytes: new Uint8Array([9, 0, 0, 0]) }]);
    const dUnmap = structOk(decodeIoctl(profile, 'iommufd', unmap.request, argBytes(buffer(64, 64))));
    expect(encodeResponse(profile, dUnmap, dUnmap.value)[0]?.bytes.length).toBe(24);
    const dMap = structOk(decodeIoctl(profile, 'iommufd', map.request, argBytes(buffer(32, 32))));
    expect(encodeResponse(profile, dMap, dMap.value)).toEqual([]);
  });
});

describe('7.3 PASID extension of ATTACH/DETACH', () => {
  it('reads pasid only when asked, checking argsz against offsetofend(pasid)', () => {
    const attach = commandByName('7.3', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT');
    const ext = attach?.extensions?.[0];
    if (!attach || !ext) throw new Error('attach');
    const full = encodeStruct('7.3', 'vfio_device_attach_iommufd_pt', { argsz: 16, flags: 1, pt_id: 5, pasid: 42 });
    const d = structOk(decodeIoctl('7.3', 'vfio-device', attach.request, argBytes(full)));
    expect(d.value).toMatchObject({ pt_id: 5, pasid: 0 }); // minsz = 12: pasid not read yet
    const x = vfioCopyExtension('7.3', d, full, ext);
    expect(x).toMatchObject({ value: { flags: 1, pt_id: 5, pasid: 42 } });
    const short = encodeStruct('7.3', 'vfio_device_attach_iommufd_pt', { argsz: 12, flags: 1, pt_id: 5, pasid: 42 });
    const ds = structOk(decodeIoctl('7.3', 'vfio-device', attach.request, argBytes(short)));
    expect(vfioCopyExtension('7.3', ds, short, ext)).toEqual({ errno: ERRNO.EINVAL });
    expect(vfioCopyExtension('7.3', d, full.subarray(0, 12), ext)).toEqual({ errno: ERRNO.EFAULT });
    expect(commandByName('6.12', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT')?.extensions).toBeUndefined();
    expect(decodeStruct('7.3', 'vfio_device_detach_iommufd_pt', new Uint8Array(12))).toEqual({ argsz: 0, flags: 0, pasid: 0 });
  });
});
