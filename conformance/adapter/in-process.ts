/**
 * The in-process transport: an Implementation (a handler object) becomes an
 * Adapter. Batches are unrolled here, in order, so handlers see single
 * requests only. A handler that throws yields a ProtocolError with code
 * 'internal' (implementations should never throw; this keeps a suite run alive
 * and the failure visible).
 *
 * Requests are carried out one at a time in call order, even when the caller
 * does not wait between calls.
 *
 * With `validate: true` every request and result also goes through its wire
 * form and the JSON Schema, so an in-process implementation is held to exactly
 * what the stdio transport would carry.
 */
import type { Adapter, AdapterInfo, Implementation, Request, Response, SingleRequest } from '../../spec/contract/types.ts';
import { CONTRACT_VERSION } from '../../spec/contract/types.ts';
import { AdapterError } from './errors.ts';
import { checkSchema, prefixField } from '../../spec/contract/validate.ts';
import { requestToWire, resultToWire, shapeToWire } from '../../spec/contract/wire.ts';
import { requestKindViolation, resultKindViolation } from '../../spec/contract/struct-kinds.ts';

export interface InProcessOptions {
  /** Check every request and result against the wire schema (tests). Default false. */
  readonly validate?: boolean;
}

function internalError(err: unknown): Response {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { ok: false, error: { code: 'internal', message: `implementation threw: ${message}` } };
}

/** One request: the response, synchronously when the implementation answers so. Throws AdapterError for an invalid result (validate). */
function handleOne(impl: Implementation, request: SingleRequest, validate: boolean): Response | Promise<Response> {
  if (validate) {
    const bad = checkSchema('batchItem', shapeToWire(() => requestToWire(request)));
    if (bad) return { ok: false, error: { code: 'bad-request', message: bad.message, field: bad.field } };
    const kind = request.op === 'ioctl' ? requestKindViolation(impl.profile, request.cmd, request.arg) : undefined;
    if (kind) return { ok: false, error: { code: 'bad-request', message: `field '${kind.field}' ${kind.message}`, field: kind.field } };
  }
  let answer: Response | Promise<Response>;
  try {
    answer = impl.handle(request);
  } catch (err) {
    return internalError(err);
  }
  if (answer instanceof Promise) return answer.then((r) => checked(impl, request, r, validate), internalError);
  return checked(impl, request, answer, validate);
}

function checked(impl: Implementation, request: SingleRequest, response: Response, validate: boolean): Response {
  if (validate && response.ok) {
    const bad = checkSchema(`result_${request.op}`, shapeToWire(() => resultToWire(request, response.result)));
    if (bad) {
      throw new AdapterError('bad-message', `${impl.name} answered ${request.op} with an invalid result: ${bad.message}`, prefixField('result', bad.field));
    }
    const kind = request.op === 'ioctl' ? resultKindViolation(impl.profile, request.cmd, response.result as Extract<Response<'ioctl'>, { ok: true }>['result']) : undefined;
    if (kind) throw new AdapterError('bad-message', `${impl.name} answered ioctl with a result whose field '${kind.field}' ${kind.message}`, prefixField('result', kind.field));
  }
  return response;
}

export function inProcessAdapter(impl: Implementation, opts: InProcessOptions = {}): Adapter & { readonly info: AdapterInfo } {
  const validate = opts.validate ?? false;
  let closed = false;
  const info: AdapterInfo = {
    contract: CONTRACT_VERSION,
    implementation: { name: impl.name, version: impl.version },
    profile: impl.profile,
  };

  // Requests run one at a time in the order they were made, as on the wire
  // (§7.2): an async handler never sees two requests interleaved.
  let queue: Promise<unknown> = Promise.resolve();
  /** Calls made through the queue and not answered yet. */
  let inFlight = 0;
  function run(request: Request): Promise<Response> {
    inFlight++;
    const next = queue.then(() => answer(request)).finally(() => void inFlight--);
    queue = next.catch(() => undefined);
    return next;
  }

  /** The answer to a request that is next in line: synchronous as far as the implementation is. */
  function answer(request: Request): Response | Promise<Response> {
    if (closed) throw new AdapterError('closed', `adapter ${impl.name} is closed`);
    if (request.op !== 'batch') return handleOne(impl, request, validate);
    const responses: Response[] = [];
    const rest = (from: number): Response | Promise<Response> => {
      for (let i = from; i < request.requests.length; i++) {
        const inner = request.requests[i]!;
        if (inner.op === 'batch') {
          responses.push({ ok: false, error: { code: 'bad-request', message: 'a batch cannot contain a batch', field: `requests.${i}.op` } });
          continue;
        }
        const r = handleOne(impl, inner, validate);
        if (r instanceof Promise) {
          // An asynchronous answer: the rest of the batch follows it.
          return r.then((x) => {
            responses.push(x);
            return rest(i + 1);
          });
        }
        responses.push(r);
      }
      return { ok: true, result: { responses } };
    };
    return rest(0);
  }

  function callNow(request: Request): Response | Promise<Response> {
    if (inFlight > 0) return run(request);
    const r = answer(request);
    if (!(r instanceof Promise)) return r;
    // Answered later: later calls queue behind it.
    inFlight++;
    const next = r.finally(() => void inFlight--);
    queue = next.catch(() => undefined);
    return next;
  }

  return {
    info,
    call<R extends Request>(request: R): Promise<Response<R['op']>> {
      // run answers with the result of request.op; the generic ties the two.
      return run(request) as Promise<Response<R['op']>>;
    },
    callNow<R extends Request>(request: R): Response<R['op']> | Promise<Response<R['op']>> {
      return callNow(request) as Response<R['op']> | Promise<Response<R['op']>>;
    },
    async batch(requests) {
      const r = await run({ op: 'batch', requests });
      if (!r.ok) throw new AdapterError('bad-message', r.error.message, r.error.field);
      return (r.result as { responses: readonly Response[] }).responses;
    },
    async close() {
      if (closed) return;
      closed = true;
      await impl.close?.();
    },
  };
}
