/**
 * Registers the kernel lanes with the adapter registry (conformance/adapter/open.ts):
 * `--impl linux-6.12` and `--impl linux-7.3` build or reuse the profile's kernel,
 * boot it under QEMU and serve the contract from the C adapter in the guest.
 * Imported for its side effect (cli/commands/kernel.ts does, so every CLI command sees the names).
 */
import { registerImplementation } from '../adapter/open.ts';
import { AdapterError } from '../adapter/errors.ts';
import { KERNEL_LANE_NAMES, openKernelAdapter } from './lane.ts';

for (const [name, profile] of Object.entries(KERNEL_LANE_NAMES)) {
  registerImplementation(
    name,
    async (opts) => {
      if (opts.profile !== undefined && opts.profile !== profile) {
        throw new AdapterError('handshake', `${name} serves profile ${profile}, not ${opts.profile}`);
      }
      const progress = process.env['IOMMUFD_SPEC_QUIET'] ? undefined : (line: string) => process.stderr.write(`${line}\n`);
      return openKernelAdapter(profile, progress ? { progress } : {});
    },
    `Linux ${profile} (Debian source) with CONFIG_IOMMUFD_TEST in a QEMU guest; the C adapter serves the contract (conformance/kernel/README.md)`,
  );
}
