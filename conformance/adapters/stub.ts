/**
 * The stub implementation: a transport fixture, not an iommufd. It answers the
 * handshake and the capability report (every command, test op, environment
 * op and device feature unsupported, reason "stub implementation"), answers
 * every ioctl with ENOTTY — what a kernel without iommufd gives for an unknown
 * command (main.c: iommufd_fops_ioctl → -ENOIOCTLCMD) — and refuses every
 * other op with a ProtocolError of code 'unsupported'.
 */
import type { Capabilities, Implementation, Profile, Response, SingleRequest, Support } from '../../spec/contract/types.ts';
import { CONTRACT_VERSION } from '../../spec/contract/types.ts';
import { ENVIRONMENT_OPS } from '../../spec/contract/ops.ts';
import { commandsFor, ERRNO, testOpsFor } from '../../spec/uapi/index.ts';

export const STUB_REASON = 'stub implementation';
export const STUB_VERSION = '1.0.0';
const ENOTTY = ERRNO.ENOTTY;

const UNSUPPORTED: Support = { supported: false, reason: STUB_REASON };

function unsupportedMap(names: readonly string[]): Record<string, Support> {
  return Object.fromEntries(names.map((n) => [n, UNSUPPORTED]));
}

export function stubCapabilities(profile: Profile): Capabilities {
  return {
    contract: CONTRACT_VERSION,
    implementation: { name: 'stub', version: STUB_VERSION },
    profile,
    commands: unsupportedMap(commandsFor(profile).map((c) => c.name)),
    testOps: unsupportedMap(testOpsFor(profile).map((o) => o.name)),
    ops: unsupportedMap(ENVIRONMENT_OPS),
    deviceFeatures: {
      multiDeviceGroups: UNSUPPORTED,
      pasid: UNSUPPORTED,
      dirtyTracking: UNSUPPORTED,
      enforceCacheCoherency: UNSUPPORTED,
      noSnoop: UNSUPPORTED,
      hugeIova: UNSUPPORTED,
      reservedRegions: UNSUPPORTED,
    },
    iommus: [],
  };
}

export function createStubImplementation(profile: Profile): Implementation {
  return {
    name: 'stub',
    version: STUB_VERSION,
    profile,
    handle(request: SingleRequest): Response {
      if (request.op === 'capabilities') return { ok: true, result: stubCapabilities(profile) };
      if (request.op === 'ioctl') return { ok: true, result: { ret: -1, errno: ENOTTY } };
      return { ok: false, error: { code: 'unsupported', message: `${request.op}: ${STUB_REASON}`, field: 'op' } };
    },
  };
}
