/**
 * fast-check arbitraries for every request and result of contract v1 (used by
 * the wire round-trip tests; usable to fuzz any adapter's decoding).
 */
import fc from 'fast-check';
import type {
  Capabilities,
  DeviceSpec,
  FieldValue,
  IoctlArg,
  ProtocolError,
  RawPointerPatch,
  RawPointerResult,
  Request,
  Response,
  Results,
  SingleRequest,
  StructValue,
  Support,
} from './types.ts';
import { CONTRACT_VERSION } from './types.ts';
import { ENVIRONMENT_OPS } from './ops.ts';

const handle = fc.integer({ min: -1, max: 4096 });
const count = fc.nat({ max: 1 << 24 });
/** A mem_alloc length: whole pages (ADAPTER.md §3.5). */
const pages = fc.integer({ min: 1, max: 1 << 12 }).map((n) => n * 4096);
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const bytes = fc.uint8Array({ maxLength: 48 });
const name = fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/);
const upperName = fc.stringMatching(/^[A-Z][A-Z0-9_]{0,20}$/);
const text = fc.string({ maxLength: 20 });
const profile = fc.constantFrom('6.12' as const, '7.3' as const);

const { structValue } = fc.letrec<{ structValue: StructValue; fieldValue: FieldValue }>((tie) => ({
  fieldValue: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
    u64,
    fc.array(tie('fieldValue'), { maxLength: 3 }),
    bytes.map((data) => ({ data })),
    count.map((room) => ({ room })),
    tie('structValue'),
  ),
  structValue: fc.dictionary(name, tie('fieldValue'), { maxKeys: 4 }),
}));

export { structValue as structValueArb };

const pointerTarget = fc.oneof(
  bytes.map((data) => ({ data })),
  count.map((room) => ({ room })),
);

/** Pointer patches of a raw argument, nesting up to 2 levels. */
const { patches } = fc.letrec<{ patches: RawPointerPatch[]; patch: RawPointerPatch }>((tie) => ({
  patch: fc
    .tuple(fc.nat({ max: 4096 }), pointerTarget, fc.option(tie('patches'), { depthSize: 'small' }))
    .map(([offset, target, ptrs]): RawPointerPatch => ({ offset, ...target, ...(ptrs !== null && { ptrs }) })),
  patches: fc.array(tie('patch'), { maxLength: 2, depthIdentifier: 'ptrs' }),
}));

const { patchResults } = fc.letrec<{ patchResults: RawPointerResult[]; patchResult: RawPointerResult }>((tie) => ({
  patchResult: fc
    .tuple(bytes, fc.option(tie('patchResults'), { depthSize: 'small' }))
    .map(([data, ptrs]): RawPointerResult => ({ data, ...(ptrs !== null && { ptrs }) })),
  patchResults: fc.array(tie('patchResult'), { maxLength: 2, depthIdentifier: 'ptrResults' }),
}));

const ioctlArg: fc.Arbitrary<IoctlArg> = fc.oneof(
  fc.record({ kind: fc.constant('struct' as const), fields: structValue, tail: bytes, truncate: count, readOnly: fc.boolean() }, { requiredKeys: ['kind', 'fields'] }),
  fc.record({ kind: fc.constant('raw' as const), bytes, ptrs: patches, readOnly: fc.boolean() }, { requiredKeys: ['kind', 'bytes'] }),
  fc.record({ kind: fc.constant('int' as const), value: fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }) }),
  fc.constant({ kind: 'null' as const }),
  fc.constant({ kind: 'fault' as const }),
);

const deviceSpec: fc.Arbitrary<DeviceSpec> = fc.record(
  {
    iommu: upperName,
    group: handle,
    pasidWidth: fc.integer({ min: 0, max: 20 }),
    dirtyTracking: fc.boolean(),
    enforceCacheCoherency: fc.boolean(),
    noSnoop: fc.boolean(),
    hugeIova: fc.boolean(),
    reservedRegions: fc.array(fc.record({ start: u64, last: u64 }), { maxLength: 3 }),
  },
  { requiredKeys: ['iommu'] },
);

const pasid = fc.integer({ min: 0, max: (1 << 20) - 1 });
const bufRange = { buffer: handle, offset: count, length: count };

/** One arbitrary per single op. */
export const singleRequestArb: fc.Arbitrary<SingleRequest> = fc.oneof(
  fc.constant({ op: 'capabilities' as const }),
  fc.record({ op: fc.constant('open' as const), node: fc.constantFrom('iommu' as const, 'vfio' as const) }),
  fc.record({ op: fc.constant('open_device' as const), device: handle }),
  fc.record({ op: fc.constant('close' as const), fd: handle }),
  fc.record({ op: fc.constant('ioctl' as const), fd: handle, cmd: fc.oneof(upperName, fc.nat({ max: 0xffffffff })), arg: ioctlArg }),
  fc.record({ op: fc.constant('read' as const), fd: handle, count, offset: count }, { requiredKeys: ['op', 'fd', 'count'] }),
  fc.record({ op: fc.constant('write' as const), fd: handle, data: bytes, offset: count }, { requiredKeys: ['op', 'fd', 'data'] }),
  fc.record({ op: fc.constant('poll' as const), fd: handle, events: fc.nat({ max: 0xffff }) }),
  fc.record(
    { op: fc.constant('set_process' as const), rlimitMemlock: fc.option(u64, { nil: null }), capIpcLock: fc.boolean(), capSysResource: fc.boolean() },
    { requiredKeys: ['op'] },
  ),
  fc.constant({ op: 'process_info' as const }),
  fc.record({ op: fc.constant('mem_alloc' as const), length: pages, prot: fc.constantFrom('rw' as const, 'r' as const), hugeAligned: fc.boolean() }, { requiredKeys: ['op', 'length'] }),
  fc.record({ op: fc.constant('mem_write' as const), buffer: handle, offset: count, data: bytes }),
  fc.record({ op: fc.constant('mem_read' as const), ...bufRange }),
  fc.record({ op: fc.constant('mem_unmap' as const), ...bufRange }),
  fc.record({ op: fc.constant('mem_protect' as const), ...bufRange, prot: fc.constantFrom('rw' as const, 'r' as const, 'none' as const) }),
  fc.record({ op: fc.constant('device_create' as const), spec: deviceSpec }),
  fc.record({ op: fc.constant('device_remove' as const), device: handle }),
  fc.record(
    { op: fc.constant('dma' as const), device: handle, pasid, iova: u64, dir: fc.constantFrom('read' as const, 'write' as const), data: bytes, length: count },
    { requiredKeys: ['op', 'device', 'iova', 'dir'] },
  ),
  fc.record({ op: fc.constant('translate' as const), device: handle, pasid, iova: u64 }, { requiredKeys: ['op', 'device', 'iova'] }),
  fc.record({ op: fc.constant('pin_count' as const), ...bufRange }),
  fc.record({ op: fc.constant('iotlb' as const), iommu: upperName }),
  fc.constant({ op: 'kvm_create' as const }),
  fc.record({ op: fc.constant('kvm_destroy' as const), vm: handle }),
  fc.record({ op: fc.constant('kvm_vfio_add' as const), vm: handle, fd: handle }),
  fc.record({ op: fc.constant('kvm_vfio_del' as const), vm: handle, fd: handle }),
  fc.record({ op: fc.constant('kvm_state' as const), vm: handle }),
  fc.record({ op: fc.constant('fail_nth' as const), nth: count }),
  fc.constant({ op: 'reset' as const }),
);

export const requestArb: fc.Arbitrary<Request> = fc.oneof(
  { weight: 5, arbitrary: singleRequestArb },
  { weight: 1, arbitrary: fc.array(singleRequestArb, { maxLength: 5 }).map((requests): Request => ({ op: 'batch', requests })) },
);

const support: fc.Arbitrary<Support> = fc.oneof(
  fc.constant({ supported: true as const }),
  fc.string({ minLength: 1, maxLength: 20 }).map((reason) => ({ supported: false as const, reason })),
);

const capabilities: fc.Arbitrary<Capabilities> = fc.record({
  contract: fc.constant(CONTRACT_VERSION),
  implementation: fc.record({ name: fc.string({ minLength: 1, maxLength: 10 }), version: text }),
  profile,
  commands: fc.dictionary(upperName, support, { maxKeys: 4 }),
  testOps: fc.dictionary(upperName.map((n) => `IOMMU_TEST_OP_${n}`), support, { maxKeys: 3 }),
  ops: fc.dictionary(fc.constantFrom(...ENVIRONMENT_OPS), support, { maxKeys: 5 }),
  deviceFeatures: fc.record({
    multiDeviceGroups: support,
    pasid: support,
    dirtyTracking: support,
    enforceCacheCoherency: support,
    noSnoop: support,
    hugeIova: support,
    reservedRegions: support,
  }),
  iommus: fc.array(
    fc.record({
      name: fc.string({ minLength: 1, maxLength: 8 }),
      format: fc.string({ minLength: 1, maxLength: 8 }),
      pgsizeBitmap: u64,
      apertureStart: u64,
      apertureLast: u64,
      enforceCacheCoherency: fc.boolean(),
      dirtyTracking: fc.boolean(),
      maxPasidLog2: fc.integer({ min: 0, max: 20 }),
      nesting: fc.boolean(),
      reservedRegions: fc.array(fc.record({ start: u64, last: u64 }), { maxLength: 2 }),
    }, { requiredKeys: ['name', 'format', 'pgsizeBitmap', 'apertureStart', 'apertureLast', 'enforceCacheCoherency', 'dirtyTracking', 'maxPasidLog2', 'nesting'] }),
    { maxLength: 2 },
  ),
  rawPointerPatches: support,
  readOnlyArgs: support,
  features: fc.dictionary(upperName.map((n) => `IOMMU_${n}`), support, { maxKeys: 3 }),
}, { requiredKeys: ['contract', 'implementation', 'profile', 'commands', 'testOps', 'ops', 'deviceFeatures', 'iommus'] });

const errno = fc.integer({ min: 0, max: 4095 });
const syscall = fc.record({ ret: fc.integer({ min: -1, max: 1 << 20 }), errno });
const empty = fc.constant({} as Record<string, never>);

/** An arbitrary successful result for a single request. */
function resultArbFor(request: SingleRequest): fc.Arbitrary<Results[keyof Results]> {
  switch (request.op) {
    case 'capabilities':
      return capabilities;
    case 'open':
    case 'open_device':
      return fc.record({ fd: handle, errno }, { requiredKeys: ['fd'] });
    case 'close':
    case 'write':
    case 'kvm_vfio_add':
    case 'kvm_vfio_del':
      return syscall;
    case 'ioctl':
      return fc.record(
        {
          ret: fc.integer({ min: -1, max: 1 }),
          errno,
          out: structValue,
          bytes,
          buffers: fc.dictionary(fc.stringMatching(/^[a-z_.0-9]{1,12}$/), bytes, { maxKeys: 2 }),
          ptrs: patchResults,
        },
        { requiredKeys: ['ret', 'errno'] },
      );
    case 'read':
      return fc.record({ ret: fc.integer({ min: -1, max: 4096 }), errno, data: bytes }, { requiredKeys: ['ret', 'errno'] });
    case 'poll':
      return fc.record({ revents: fc.nat({ max: 0xffff }) });
    case 'set_process':
    case 'mem_write':
    case 'mem_unmap':
    case 'mem_protect':
    case 'device_remove':
    case 'kvm_destroy':
    case 'fail_nth':
    case 'reset':
      return empty;
    case 'process_info':
      return fc.record({ lockedVmPages: count, pinnedVmPages: count });
    case 'mem_alloc':
      return fc.record({ buffer: handle, va: u64, length: pages });
    case 'mem_read':
      return fc.record({ data: bytes });
    case 'device_create':
      return fc.record({ device: handle, group: handle });
    case 'dma':
      return fc.record(
        {
          ok: fc.boolean(),
          data: bytes,
          fault: fc.constantFrom('unmapped' as const, 'permission' as const, 'blocked' as const),
          touched: fc.array(fc.record(bufRange), { maxLength: 3 }),
        },
        { requiredKeys: ['ok'] },
      );
    case 'translate':
      return fc.record({ mapped: fc.boolean(), buffer: handle, offset: count, read: fc.boolean(), write: fc.boolean() }, { requiredKeys: ['mapped'] });
    case 'pin_count':
      return fc.record({ pins: fc.array(count, { maxLength: 8 }) });
    case 'iotlb':
      return fc.record({ entries: fc.array(fc.record({ tag: text, iova: u64, pa: u64, size: count, perm: fc.constantFrom('r' as const, 'w' as const, 'rw' as const) }), { maxLength: 3 }) });
    case 'kvm_create':
      return fc.record({ vm: handle });
    case 'kvm_state':
      return fc.record({ noncoherentDma: fc.boolean(), registeredFds: fc.array(handle, { maxLength: 4 }) });
  }
}

export const protocolErrorArb: fc.Arbitrary<ProtocolError> = fc.record(
  {
    code: fc.constantFrom('unsupported' as const, 'bad-request' as const, 'bad-handle' as const, 'internal' as const),
    message: fc.string({ minLength: 1, maxLength: 30 }),
    field: fc.stringMatching(/^[a-z_.0-9]{0,16}$/),
  },
  { requiredKeys: ['code', 'message'] },
);

function responseArbFor(request: SingleRequest): fc.Arbitrary<Response> {
  return fc.oneof(
    { weight: 4, arbitrary: resultArbFor(request).map((result): Response => ({ ok: true, result })) },
    { weight: 1, arbitrary: protocolErrorArb.map((error): Response => ({ ok: false, error })) },
  );
}

/** A request with a response that answers it (batches answered item by item). */
type Answered = { request: Request; response: Response };
export const answeredArb: fc.Arbitrary<Answered> = requestArb.chain((request): fc.Arbitrary<Answered> => {
  if (request.op !== 'batch') return responseArbFor(request).map((response): Answered => ({ request, response }));
  const items = request.requests.map((inner) => (inner.op === 'batch' ? fc.constant<Response>({ ok: true, result: { responses: [] } }) : responseArbFor(inner)));
  return fc.tuple(...items).map((responses): Answered => ({ request, response: { ok: true, result: { responses } } }));
});
