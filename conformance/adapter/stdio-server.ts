/**
 * The stdio server transport: serve any in-process Adapter as JSON lines
 * (stdin → requests, stdout → responses), as `iommufd-spec serve` does.
 *
 * Every incoming line is parsed and validated against the schema; a bad one
 * gets a ProtocolError response naming the offending field (id null when the
 * id itself could not be read) and the session goes on. Requests are carried
 * out one at a time, in the order received, and answered in that order.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Adapter, AdapterInfo, Profile, ProtocolError, Request, Response } from '../../spec/contract/types.ts';
import { CONTRACT_VERSION } from '../../spec/contract/types.ts';
import { checkSchema, prefixField } from '../../spec/contract/validate.ts';
import { requestKindViolation, resultKindViolation } from '../../spec/contract/struct-kinds.ts';
import { type Json, type JsonObject, helloFromWire, protocolErrorToWire, requestFromWire, responseToWire, WireFormatError } from '../../spec/contract/wire.ts';

/** Opens the implementation once the hello has named a profile (null: the implementation's choice). */
export type OpenForProfile = (profile: Profile | null) => Promise<Adapter & { readonly info: AdapterInfo }>;

export interface ServeOptions {
  readonly input?: Readable;
  readonly output?: Writable;
  /** Check every result the implementation gives against the schema before sending it. Default true. */
  readonly validateResults?: boolean;
  /** Diagnostics (stderr by default; stdout is the protocol channel). */
  readonly log?: (message: string) => void;
}

/** A failure to serve a request, answered as {ok:false, error}. */
class Refusal extends Error {
  constructor(readonly error: ProtocolError) {
    super(error.message);
  }
}

function refuse(code: ProtocolError['code'], message: string, field?: string): never {
  throw new Refusal({ code, message, ...(field !== undefined && { field }) });
}

/** Serve until the input ends or the client says bye. */
export async function serveStdio(open: OpenForProfile, opts: ServeOptions = {}): Promise<void> {
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stdout;
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const validateResults = opts.validateResults ?? true;
  let adapter: (Adapter & { readonly info: AdapterInfo }) | undefined;

  const send = (msg: JsonObject): void => {
    output.write(`${JSON.stringify(msg)}\n`);
  };

  /** The result of a request as the implementation gives it, checked against the schema. */
  async function serveRequest(a: Adapter & { readonly info: AdapterInfo }, request: Request): Promise<JsonObject> {
    // A struct member of the wrong kind (a 32-bit member as a u64 string, …) is the client's error (ADAPTER.md §3.3, §7.4).
    if (request.op === 'ioctl') {
      const bad = requestKindViolation(a.info.profile, request.cmd, request.arg);
      if (bad) refuse('bad-request', `field '${bad.field}' ${bad.message}`, bad.field);
    }
    let response: Response;
    try {
      response = await a.call(request);
    } catch (err) {
      refuse('internal', `implementation failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    let wire: JsonObject;
    try {
      wire = responseToWire(request, response);
    } catch (err) {
      refuse('internal', `implementation gave a result that cannot be encoded: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (validateResults && wire['ok'] === true) {
      checkResultOrRefuse(request, wire['result']);
      if (request.op === 'ioctl' && response.ok) {
        const bad = resultKindViolation(a.info.profile, request.cmd, response.result as Extract<Response<'ioctl'>, { ok: true }>['result']);
        if (bad) refuse('internal', `implementation gave an ioctl result whose field '${bad.field}' ${bad.message}`, prefixField('result', bad.field));
      }
    }
    return wire;
  }

  function checkResultOrRefuse(request: Request, result: Json | undefined): void {
    const bad = checkSchema(`result_${request.op}`, result);
    if (bad) refuse('internal', `implementation gave an invalid ${request.op} result: ${bad.message}`, prefixField('result', bad.field));
  }

  /** A batch: items validated one by one; a bad item gets its own error, the others still run. */
  async function serveBatch(a: Adapter & { readonly info: AdapterInfo }, msg: JsonObject): Promise<JsonObject> {
    const items = msg['requests'] as readonly Json[];
    const responses: JsonObject[] = [];
    for (const [i, item] of items.entries()) {
      const prefix = `requests.${i}`;
      try {
        const bad = checkSchema('batchItem', item);
        if (bad) refuse('bad-request', `${prefix}: ${bad.message}`, prefixField(prefix, bad.field));
        const request = decodeRequest(item, prefix, true);
        let wire: JsonObject;
        try {
          wire = await serveRequest(a, request);
        } catch (err) {
          // The item's own refusal names its field inside the batch.
          if (err instanceof Refusal && err.error.field !== undefined) refuse(err.error.code, err.error.message, prefixField(prefix, err.error.field));
          throw err;
        }
        responses.push(wire);
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
        responses.push({ ok: false, error: protocolErrorToWire(err.error) });
      }
    }
    return { responses };
  }

  function decodeRequest(value: Json | undefined, field: string, inBatch: boolean): Request {
    try {
      return requestFromWire(value, field, inBatch);
    } catch (err) {
      if (err instanceof WireFormatError) refuse('bad-request', err.message, err.field);
      throw err;
    }
  }

  async function hello(msg: JsonObject): Promise<JsonObject> {
    if (adapter) refuse('bad-request', 'the hello was already answered', 'op');
    const h = helloFromWire(msg);
    if (!h.contract.includes(CONTRACT_VERSION)) {
      refuse('unsupported', `this server speaks contract version ${CONTRACT_VERSION}; the client offered ${JSON.stringify(h.contract)}`, 'contract');
    }
    try {
      adapter = await open(h.profile);
    } catch (err) {
      refuse('unsupported', `cannot serve profile ${h.profile ?? '(default)'}: ${err instanceof Error ? err.message : String(err)}`, 'profile');
    }
    return {
      contract: CONTRACT_VERSION,
      implementation: { name: adapter.info.implementation.name, version: adapter.info.implementation.version },
      profile: adapter.info.profile,
    };
  }

  /** Answer one line; returns false after a bye. */
  async function onLine(line: string): Promise<boolean> {
    let msg: Json;
    try {
      msg = JSON.parse(line) as Json;
    } catch {
      send({ id: null, ok: false, error: { code: 'bad-request', message: 'the line is not valid JSON' } });
      return true;
    }
    const rawId = typeof msg === 'object' && msg !== null && !Array.isArray(msg) ? (msg as JsonObject)['id'] : undefined;
    const id = typeof rawId === 'number' && Number.isSafeInteger(rawId) && rawId >= 0 ? rawId : null;
    let bye = false;
    try {
      const bad = checkSchema('clientMessage', msg);
      if (bad) refuse('bad-request', bad.message, bad.field);
      const m = msg as JsonObject;
      const op = m['op'];
      let result: JsonObject;
      if (op === 'hello') {
        result = await hello(m);
      } else if (!adapter) {
        refuse('bad-request', 'the first message must be the hello', 'op');
      } else if (op === 'bye') {
        bye = true;
        result = {};
      } else if (op === 'batch') {
        result = await serveBatch(adapter, m);
      } else {
        const wire = await serveRequest(adapter, decodeRequest(m, '', false));
        send({ id, ...wire });
        return true;
      }
      send({ id, ok: true, result });
    } catch (err) {
      if (!(err instanceof Refusal)) {
        log(`serve: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        send({ id, ok: false, error: { code: 'internal', message: err instanceof Error ? err.message : String(err) } });
        return true;
      }
      send({ id, ok: false, error: protocolErrorToWire(err.error) });
    }
    return !bye;
  }

  const rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
  try {
    for await (const line of rl) {
      if (line.trim() === '') continue;
      if (!(await onLine(line))) break;
    }
  } finally {
    rl.close();
    await adapter?.close();
  }
}
