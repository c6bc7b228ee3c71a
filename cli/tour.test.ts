/**
 * `iommufd-spec tour`: tour programs run on an implementation, every step
 * checked by the lifecycle oracle. The reference takes the foreign-domain
 * edges as predicted; an implementation that lets IOMMU_DESTROY of an object
 * in use succeed fails edges of the mock-device tour.
 */
import { describe, expect } from 'vitest';
import { check } from '../spec/clauses/check.ts';
import { runTour } from './commands/tour.ts';

describe('iommufd-spec tour', () => {
  check(
    'machines.tour.ref-takes-foreign-domain-edges',
    async () => {
      const r = await runTour('ref', '6.12', { only: 'foreign-domains' });
      expect(r.programs).toBeGreaterThan(0);
      expect(r.edges.failed, JSON.stringify(r.results.filter((x) => x.status === 'failed'))).toBe(0);
      const confirmed = r.results.filter((x) => x.status === 'confirmed').map((x) => x.edge);
      expect(confirmed).toContain('system|running|IOMMU_TEST_OP_MOCK_DOMAIN|foreignDomain|running');
      expect(confirmed).toContain('system|running|VFIO_DEVICE_ATTACH_IOMMUFD_PT|foreignDomain|running');
    },
    600_000,
  );

  check(
    'machines.tour.handles-are-names',
    async () => {
      // Access objects are fds: a program that passed the reference's fd
      // number took EBADFD on the kernel lanes, whose fds are numbered
      // otherwise. An implementation with one more file open shows it here.
      const r = await runTour('conformance/suite/fixtures/fd-offset.ts', '7.3', { only: 'access' });
      expect(r.programs).toBeGreaterThan(0);
      expect(r.edges.failed, JSON.stringify(r.results.filter((x) => x.status === 'failed'))).toBe(0);
      expect(r.results.filter((x) => x.status === 'confirmed').map((x) => x.edge)).toContain('access|attached|IOMMU_IOAS_UNMAP||attached');
    },
    600_000,
  );

  check(
    'machines.tour.catches-destroy-in-use',
    async () => {
      const r = await runTour('conformance/suite/fixtures/destroy-busy-succeeds.ts', '6.12', { only: 'mock-devices' });
      expect(r.edges.failed).toBeGreaterThan(0);
      expect(r.results.some((x) => x.status === 'failed' && /IOMMU_DESTROY/.test(x.edge))).toBe(true);
    },
    600_000,
  );
});
