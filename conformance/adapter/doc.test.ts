import { describe, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { check } from '../../spec/clauses/check.ts';
import { SINGLE_OPS } from '../../spec/contract/ops.ts';
import { checkTranscript, type TranscriptLine } from '../../spec/contract/transcript.ts';

const DOC = readFileSync(new URL('../../spec/contract/ADAPTER.md', import.meta.url), 'utf8');

function wireBlocks(text: string): TranscriptLine[][] {
  const blocks = [...text.matchAll(/```wire\n([\s\S]*?)```/g)];
  return blocks.map((m) =>
    (m[1] ?? '')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l): TranscriptLine => {
        if (l.startsWith('C: ')) return { direction: 'send', line: l.slice(3) };
        if (l.startsWith('S: ')) return { direction: 'recv', line: l.slice(3) };
        throw new Error(`transcript line without C:/S: prefix: ${l}`);
      }),
  );
}

describe('ADAPTER.md', () => {
  check('adapter.doc.transcript-valid', () => {
    const blocks = wireBlocks(DOC);
    expect(blocks.length).toBeGreaterThan(0);
    for (const b of blocks) {
      // A deliberately malformed request is allowed only where the server
      // refuses it as bad-request naming exactly the field the schema names.
      const unexplained = checkTranscript(b).filter((v) => {
        if (b[v.index]?.direction !== 'send') return true;
        const id = (JSON.parse(v.line) as { id: number }).id;
        const answer = b.find((l) => l.direction === 'recv' && (JSON.parse(l.line) as { id: number }).id === id);
        const error = answer && (JSON.parse(answer.line) as { error?: { code: string; field?: string } }).error;
        return !(error?.code === 'bad-request' && error.field === v.field);
      });
      expect(unexplained).toStrictEqual([]);
      // Every request is answered exactly once, in order.
      const sent = b.filter((l) => l.direction === 'send').map((l) => (JSON.parse(l.line) as { id: number }).id);
      const answered = b.filter((l) => l.direction === 'recv').map((l) => (JSON.parse(l.line) as { id: number }).id);
      expect(answered).toStrictEqual(sent);
    }
  });

  check('adapter.doc.every-op-documented', () => {
    for (const op of [...SINGLE_OPS, 'batch', 'hello', 'bye']) {
      expect(DOC, `ADAPTER.md documents op ${op}`).toContain(`\`${op}\``);
    }
  });
});
