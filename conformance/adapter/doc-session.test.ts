/**
 * ADAPTER.md §8 is a session recorded from the reference. This replays its
 * requests against the current reference and requires the same answers, so the
 * example cannot drift from what the implementation does. The capability
 * report (request 1) is shortened in the document: every key it shows must
 * match. With UPDATE_ADAPTER_DOC=1 the block is rewritten from the reference.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { createReferenceAdapter } from '../../impl/adapter/adapter.ts';
import { requestFromWire, responseToWire, isSingleRequest } from '../../spec/contract/wire.ts';
import type { Json, JsonObject } from '../../spec/contract/wire.ts';

const DOC_URL = new URL('../../spec/contract/ADAPTER.md', import.meta.url);
const SESSION = /(## 8\. Example session[\s\S]*?```wire\n)([\s\S]*?)(```)/;

function isObject(v: Json): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The parts of `real` that `shape` shows: same keys, same array elements by position or `name`. */
function project(real: Json, shape: Json): Json {
  if (Array.isArray(shape) && Array.isArray(real)) {
    return shape.map((s, i) => {
      const byName = isObject(s) && 'name' in s ? real.find((r) => isObject(r) && r.name === s.name) : undefined;
      return project((byName ?? real[i] ?? null) as Json, s);
    });
  }
  if (isObject(shape) && isObject(real)) {
    return Object.fromEntries(Object.keys(shape).filter((k) => k in real).map((k) => [k, project(real[k] as Json, shape[k] as Json)]));
  }
  return real;
}

describe('ADAPTER.md example session', () => {
  check('adapter.doc.session-matches-reference', async () => {
    const doc = readFileSync(DOC_URL, 'utf8');
    const m = SESSION.exec(doc);
    expect(m, 'ADAPTER.md has a §8 wire block').not.toBeNull();
    const lines = (m?.[2] ?? '').split('\n').filter((l) => l.trim() !== '');
    const hello = JSON.parse((lines[0] ?? '').slice(3)) as { profile: '6.12' | '7.3' };
    const impl = createReferenceAdapter(hello.profile);
    const expected = new Map<number, string>();
    for (const l of lines.filter((l) => l.startsWith('S: '))) expected.set((JSON.parse(l.slice(3)) as { id: number }).id, l.slice(3));
    const current = new Map<number, string>();
    for (const l of lines.filter((l) => l.startsWith('C: '))) {
      const wire = JSON.parse(l.slice(3)) as JsonObject;
      const id = wire.id as number;
      if (wire.op === 'hello') continue;
      let req;
      try {
        req = requestFromWire(wire);
      } catch {
        continue; // the hand-typed malformed request: its answer is the stdio server's (adapter.doc.transcript-valid)
      }
      const response = isSingleRequest(req) ? await impl.handle(req) : await Promise.all(req.requests.map((r) => (isSingleRequest(r) ? impl.handle(r) : Promise.reject(new Error('nested batch'))))).then((responses) => ({ ok: true as const, result: { responses } }));
      let answer = { id, ...responseToWire(req, response) } as JsonObject;
      if (wire.op === 'capabilities') answer = project(answer, JSON.parse(expected.get(id) ?? '{}') as Json) as JsonObject;
      current.set(id, JSON.stringify(answer));
    }
    await impl.close?.();
    if (process.env.UPDATE_ADAPTER_DOC === '1') {
      const rewritten = lines.map((l) => {
        if (!l.startsWith('S: ')) return l;
        const id = (JSON.parse(l.slice(3)) as { id: number }).id;
        return current.has(id) ? `S: ${current.get(id)}` : l;
      });
      writeFileSync(DOC_URL, doc.replace(SESSION, (_all, head: string, _body: string, tail: string) => `${head}${rewritten.join('\n')}\n${tail}`));
      return;
    }
    for (const [id, line] of current) expect(JSON.parse(line), `answer to request ${id}`).toEqual(JSON.parse(expected.get(id) ?? 'null'));
  });
});
