/**
 * The request numbers the generator sends for a command's nr with other
 * type, direction or size bits (otherRequest): each keeps the nr, is no
 * command's number, and every dispatcher refuses it before its argument
 * matters (spec/abi's decodeIoctl, the dispatch the kernel lanes check
 * against both kernels: ENOTTY; an unbound VFIO device file answers EINVAL
 * first). A dispatch that matched on the nr alone would run the command.
 */
import { describe, expect, it } from 'vitest';
import { argBytes, decodeIoctl } from '../../../spec/abi/dispatch.ts';
import { buildIoctlArg } from '../../../spec/abi/arg.ts';
import { commandByName, commandsFor, testOpByName } from '../../../spec/uapi/lookup.ts';
import { PROFILES } from '../../../spec/uapi/profiles.ts';
import { ERRNO } from '../../../spec/uapi/errno.ts';
import { IOMMUFD_CMD_BASE, IOMMUFD_TYPE } from '../../../spec/uapi/constants.ts';
import { applyAbi, otherRequest, type RequestBits } from './abi.ts';

const BITS: readonly RequestBits[] = ['type', 'dir', 'size'];

describe('request numbers with other type, direction or size bits', () => {
  for (const profile of PROFILES) {
    it(`keep the nr, name no command and are refused by every dispatcher (${profile})`, () => {
      const commands = commandsFor(profile).filter((c) => c.fd === 'iommufd' || c.fd === 'vfio-device');
      const numbers = new Set(commandsFor(profile).map((c) => c.request >>> 0));
      let checked = 0;
      for (const cmd of commands) {
        const arg = cmd.struct ? buildIoctlArg(profile, cmd, { kind: 'struct', fields: {} }) : undefined;
        const user = arg?.kind === 'bytes' ? argBytes(arg.bytes) : { value: 0n, readable: null };
        for (const bits of BITS) {
          const n = otherRequest(profile, cmd.name, bits);
          expect(n, `${cmd.name} ${bits}`).toBeDefined();
          if (n === undefined) continue;
          expect([cmd.name, bits, n & 0xff]).toEqual([cmd.name, bits, cmd.request & 0xff]);
          expect(numbers.has(n), `${cmd.name} ${bits}: 0x${n.toString(16)} is a command's number`).toBe(false);
          const d = decodeIoctl(profile, cmd.fd, n, user, { deviceBound: true });
          expect([cmd.name, bits, d.ok ? 'ok' : d.errno]).toEqual([cmd.name, bits, ERRNO.ENOTTY]);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(30);
    });
  }

  it('are the numbers asm-generic/ioctl.h composes from the command\'s nr with another field', () => {
    // IOMMU_IOAS_ALLOC is _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 1): dir 0, size 0. With
    // sizeof(struct iommu_ioas_alloc) = 12 in the size field, with dir _IOC_READ|_IOC_WRITE, with
    // the type one below.
    const nr = IOMMUFD_CMD_BASE + 1;
    expect(otherRequest('7.3', 'IOMMU_IOAS_ALLOC', 'size')).toBe(((12 << 16) | (IOMMUFD_TYPE << 8) | nr) >>> 0);
    expect(otherRequest('7.3', 'IOMMU_IOAS_ALLOC', 'dir')).toBe(((3 << 30) | (IOMMUFD_TYPE << 8) | nr) >>> 0);
    expect(otherRequest('7.3', 'IOMMU_IOAS_ALLOC', 'type')).toBe((((IOMMUFD_TYPE - 1) << 8) | nr) >>> 0);
  });
});

describe('unknown bits in a test op\'s member flags (TestOpDef.memberFlags)', () => {
  for (const profile of PROFILES) {
    it(`set one bit its handler does not take, and say so (${profile})`, () => {
      const cmd = commandByName(profile, 'IOMMU_TEST_CMD');
      expect(cmd).toBeDefined();
      if (!cmd) return;
      // ACCESS_RW also takes MOCK_FLAGS_ACCESS_SYZ (bit 16), from another flag set: never chosen.
      const ops = [
        ['IOMMU_TEST_OP_CREATE_ACCESS', 'create_access', 'flags', 1],
        ['IOMMU_TEST_OP_ACCESS_PAGES', 'access_pages', 'flags', 1 | (1 << 16)],
        ['IOMMU_TEST_OP_ACCESS_RW', 'access_rw', 'flags', 1 | 4 | (1 << 16)],
      ] as const;
      for (const [op, member, field, known] of ops) {
        const value = testOpByName(profile, op)?.value as number;
        for (let bit = 0; bit < 32; bit++) {
          const { arg, defects } = applyAbi(profile, cmd, { op: value, id: 1, [member]: { [field]: 0 } }, { kind: 'memberFlags', bit });
          const got = (arg.fields[member] as Record<string, number>)[field] as number;
          expect(got & known, `${op} bit ${bit}`).toBe(0);
          expect(got.toString(2).replaceAll('0', '').length, `${op} bit ${bit}`).toBe(1);
          expect(defects).toEqual([{ what: `unknown bit ${Math.log2(got)} in ${member}.${field}`, errno: 'EOPNOTSUPP', field: `${member}.${field}`, abi: true }]);
        }
      }
      // An op without member flags gets no such defect.
      const refs = testOpByName(profile, 'IOMMU_TEST_OP_MD_CHECK_REFS')?.value as number;
      expect(applyAbi(profile, cmd, { op: refs, id: 0, check_refs: {} }, { kind: 'memberFlags', bit: 3 }).defects).toEqual([]);
    });
  }
});
