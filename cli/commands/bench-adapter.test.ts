import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const BIN = new URL('../../bin/iommufd-spec.mjs', import.meta.url).pathname;

describe('iommufd-spec bench adapter', () => {
  it('prints every id for an implementation, with ratios to the in-process reference (shape only; speed is never asserted)', () => {
    const out = execFileSync(process.execPath, [BIN, 'bench', 'adapter', '--impl', 'ref', '--json', '--single', '20', '--batches', '2', '--batch-size', '10'], { encoding: 'utf8' });
    const rows = JSON.parse(out) as { impl: string; id: string; value: number; unit: string; baseline_ratio: number }[];
    expect(rows.map((r) => r.id)).toEqual(['unbatched_ioctls_per_s', 'batched_ioctls_per_s', 'rtt_ms_median']);
    for (const r of rows) {
      expect(r.impl).toBe('ref');
      expect(r.value).toBeGreaterThan(0);
      expect(r.baseline_ratio).toBe(1);
    }
  });

  it('names the bad option and exits 2', () => {
    const r = spawnSync(process.execPath, [BIN, 'bench', 'adapter', '--impl', 'ref', '--rounds', '2'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--rounds');
    const p = spawnSync(process.execPath, [BIN, 'bench', 'adapter', '--impl', 'ref', '--profile', '5.4'], { encoding: 'utf8' });
    expect(p.status).toBe(2);
    expect(p.stderr).toContain('--profile');
    const m = spawnSync(process.execPath, [BIN, 'bench', 'adapter', '--impl', 'linux-7.3', '--profile', '6.12'], { encoding: 'utf8' });
    expect(m.status).toBe(2);
    expect(m.stderr).toContain('does not match --impl linux-7.3');
  });

  it('reports an implementation that cannot be started in one line, exit 2', () => {
    const r = spawnSync(process.execPath, [BIN, 'bench', 'adapter', '--impl', 'cmd:/bin/false'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--impl cmd:/bin/false');
  });
});
