/**
 * The adapter contract v1 (spec/contract/ADAPTER.md): types, wire form, schema
 * validation and the transports. Import from here.
 */
export * from '../../spec/contract/types.ts';
export { SINGLE_OPS, ENVIRONMENT_OPS, ALL_OPS, isSingleOp } from '../../spec/contract/ops.ts';
export { AdapterError, type AdapterFailureKind } from './errors.ts';
export { inProcessAdapter, type InProcessOptions } from './in-process.ts';
export { spawnStdioAdapter, connectStdio, StdioConnection, splitCommandLine, type StdioOptions, type SpawnOptions } from './stdio-client.ts';
export { serveStdio, type OpenForProfile, type ServeOptions } from './stdio-server.ts';
export {
  openAdapter,
  registerImplementation,
  registeredImplementations,
  isAdapterSpec,
  DEFAULT_PROFILE,
  type OpenOptions,
  type OpenedAdapter,
  type Opener,
} from './open.ts';
export { checkSchema, adapterSchema, SCHEMA_PATH, type SchemaViolation, type SchemaDef } from '../../spec/contract/validate.ts';
export {
  requestToWire,
  requestFromWire,
  resultToWire,
  resultFromWire,
  responseToWire,
  responseFromWire,
  structToWire,
  structFromWire,
  bigintToWire,
  bigintFromWire,
  bytesToWire,
  bytesFromWire,
  isPointerArg,
  WireFormatError,
  type Json,
  type JsonObject,
  type HelloRequest,
} from '../../spec/contract/wire.ts';
