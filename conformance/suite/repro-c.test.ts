/**
 * The C emitter (replay --emit-c), without a VM: what the emitted program
 * sends is what the project's encoder sends, references are patched at the
 * members' offsets, and each step checks its allowed set. Compiling and
 * running the programs in a guest is `kernel test` (conformance/kernel/repro.ts).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProgram } from '../programs/load.ts';
import type { Program } from '../programs/types.ts';
import { offsetofend } from '../../spec/uapi/layout.ts';
import { emitC, EmitCError } from './repro-c.ts';

const corpus = (p: string): Program => loadProgram(new URL(`../programs/corpus/${p}`, import.meta.url).pathname).program;

describe('replay --emit-c', () => {
  it('patches references at the member offsets of the profile layout and checks each step', () => {
    const c = emitC(corpus('iommufd_ioas/mock_domain.area@7.3.json'), { profile: '7.3' });
    // IOMMU_IOAS_MAP's ioas_id is a reference: put at its offset, 4 bytes.
    const ioasId = offsetofend('7.3', 'iommu_ioas_map', 'ioas_id') - 4;
    expect(c).toContain(`put_le(arg, ${ioasId}, 4, v_ioas); /* ioas_id = $ioas */`);
    expect(c).toContain('do_ioctl((int)v_fd, IOMMU_IOAS_MAP, (unsigned long)arg)');
    expect(c).toMatch(/check\(\d+, "IOMMU_IOAS_UNMAP", ret, err, 0, \(const int\[\]\)\{ ENOENT \}, 1, "ENOENT", 0, 0\);/);
    expect(c).toContain('#include "iommufd_test.h"');
  });

  it('records a return value the suite objected to', () => {
    const file = new URL('../kernel/repro/suite/linux-7.3/vfio_noiommu_extension.json', import.meta.url).pathname;
    const c = emitC(loadProgram(file).program);
    expect(c).toContain('do_ioctl((int)v_ctx1, VFIO_CHECK_EXTENSION, (unsigned long)0x8ULL)');
    expect(c).toContain('"success returning 1", 1, 1);');
  });

  it('names the step and field it cannot express', () => {
    const p: Program = { format: 'iommufd-program/1', name: 'x', description: 'x', profiles: ['7.3'], steps: [{ op: 'kvm_create' }] } as unknown as Program;
    expect(() => emitC(p)).toThrow(EmitCError);
    expect(() => emitC(p)).toThrow(/step 1: op: kvm_create has no C equivalent/);
  });

  // gcc against a built kernel's headers, where one is cached (the kernel lanes build them).
  const kernels = join(process.env['IOMMUFD_SPEC_CACHE'] ?? join(homedir(), '.cache/iommufd-spec'), 'kernels');
  const built = existsSync(kernels) ? readdirSync(kernels).filter((d) => /^(6\.12|7\.3)-/.test(d) && existsSync(join(kernels, d, 'include/iommufd_test.h'))) : [];
  it.skipIf(built.length === 0)('compiles with gcc -Wall -Werror against the kernel headers (cached kernels only)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'emitc-'));
    try {
      for (const k of built) {
        const profile = k.startsWith('6.12') ? '6.12' : '7.3';
        const src = join(dir, `area-${profile}.c`);
        writeFileSync(src, emitC(corpus(`iommufd_ioas/mock_domain.area@${profile}.json`), { profile }));
        execFileSync('gcc', ['-fsyntax-only', '-Wall', '-Werror', '-std=gnu11', `-I${join(kernels, k, 'include')}`, src]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
