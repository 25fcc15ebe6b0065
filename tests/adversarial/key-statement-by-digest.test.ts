// Issue 17 (scale): a task names the key holder's study key statement by its SHA-256 instead of carrying it (its roster
// made every task grow with the network), and a site that has not verified that statement asks the coordinator for it
// once. The coordinator may lie in its answer: another genuine statement than the one the task names, a statement it
// signed itself, or an older version. The site verifies the answer as it verified an inline statement, and refuses one
// whose digest is not the task's; a statement it verified serves later rounds naming the same digest without a fetch.
import { studyKeyStatementSha256 } from '@fedval/trust';
import type { SignedStudyKeyStatement } from '@fedval/trust';
import { createErrorMessage, createMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { describe, expect, it } from 'vitest';
import { bfvRequest, hostileFixture, hostileTask, keyStatementFor, keySubstitutionParties } from './hostile-coordinator.ts';
import type { ScriptedCoordinator } from '../helpers/scripted-coordinator.ts';

const METRIC_SPEC = { task: 'binary', bins: 20 };

/**
 * Sends a task naming `named` by digest, answers the site's key_statement.request (if it asks) with `answer`, and
 * returns the outcome (a refusal code or 'contributed') and how many times the site asked.
 */
async function roundByDigest(coordinator: ScriptedCoordinator, roundId: string, request: Record<string, unknown>, named: SignedStudyKeyStatement, answer: SignedStudyKeyStatement): Promise<{ outcome: string; asked: number }> {
  coordinator.send(hostileTask(roundId, { metricSpec: METRIC_SPEC, contribution: { ...request, keyStatementSha256: studyKeyStatementSha256(named) } }));
  const ended = (m: Message): boolean => (m.type === 'task.refuse' || m.type === 'task.result') && m.content.roundId === roundId;
  const asked = (m: Message): boolean => m.type === 'key_statement.request' && m.content.roundId === roundId;
  const first = await coordinator.next((m) => ended(m) || asked(m));
  let reply = first;
  if (asked(first)) {
    if (first.type === 'key_statement.request') expect(first.content.sha256).toBe(studyKeyStatementSha256(named));
    coordinator.send(createMessage('key_statement', { roundId, keyStatement: answer }));
    reply = await coordinator.next(ended);
  }
  return { outcome: reply.type === 'task.refuse' ? reply.content.reason.code : 'contributed', asked: asked(first) ? 1 : 0 };
}

describe('a task that names its key statement by digest', () => {
  const fixture = hostileFixture();
  const { coordinator } = fixture;

  it("is refused when the coordinator answers with another statement than the one named (genuine or forged) or an older version; a cancel, a refused request or the deadline ends the wait at once; a verified one is not fetched again", async () => {
    const { keyHolder, operator, honest, attacker } = await keySubstitutionParties(fixture, METRIC_SPEC, 120);
    const version1 = keyStatementFor(keyHolder.privateKeyPem, honest);
    const version2 = keyStatementFor(keyHolder.privateKeyPem, honest, { version: 2 });
    const unauthenticated = 'FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED';

    // The task names version 1; the answer is another statement the key holder really signed (version 2): its signature
    // verifies, only its digest gives it away.
    expect(await roundByDigest(coordinator, 'r-other-statement', bfvRequest(honest), version1, version2)).toEqual({ outcome: unauthenticated, asked: 1 });
    // The task names a statement for the attacker's key that the operator signed, and serves it: not a pinned signer.
    const forged = keyStatementFor(operator.privateKeyPem, attacker);
    expect(await roundByDigest(coordinator, 'r-forged', bfvRequest(attacker), forged, forged)).toEqual({ outcome: unauthenticated, asked: 1 });
    // The named statement altered in transit (its roster): the digest differs, and so would the signature.
    const altered = { ...version1, statement: { ...version1.statement, roster: [{ siteId: 'site-a', fingerprint: 'a'.repeat(64) }, { siteId: 'site-z', fingerprint: 'b'.repeat(64) }] } };
    expect(await roundByDigest(coordinator, 'r-altered', bfvRequest(honest), version1, altered)).toEqual({ outcome: unauthenticated, asked: 1 });

    // Honest: fetched once, then the verified copy serves the next round naming the same digest.
    expect(await roundByDigest(coordinator, 'r-honest-1', bfvRequest(honest), version1, version1)).toEqual({ outcome: 'contributed', asked: 1 });
    expect(await roundByDigest(coordinator, 'r-honest-2', bfvRequest(honest), version1, version1)).toEqual({ outcome: 'contributed', asked: 0 });
    // A new version is fetched; afterwards a task naming version 1 again (a replaced roster) is refused as outdated.
    expect(await roundByDigest(coordinator, 'r-version-2', bfvRequest(honest), version2, version2)).toEqual({ outcome: 'contributed', asked: 1 });
    expect(await roundByDigest(coordinator, 'r-version-1', bfvRequest(honest), version1, version1)).toEqual({ outcome: 'FEDVAL_ERR_AGENT_KEY_STATEMENT_OUTDATED', asked: 1 });
    // Cancelled while its statement is awaited: refused at once (not at limits.key_statement_timeout_ms, 30 s here),
    // never run (nor charged); a statement arriving afterwards changes nothing.
    const version3 = keyStatementFor(keyHolder.privateKeyPem, honest, { version: 3 });
    const byDigest3 = { ...bfvRequest(honest), keyStatementSha256: studyKeyStatementSha256(version3) };
    const endOf = (roundId: string) => (m: Message): boolean => (m.type === 'task.refuse' || m.type === 'task.result') && m.content.roundId === roundId;
    const refusal = (m: Message): string | false => m.type === 'task.refuse' && m.content.reason.code;
    coordinator.send(hostileTask('r-cancelled', { metricSpec: METRIC_SPEC, contribution: byDigest3 }));
    await coordinator.next((m) => m.type === 'key_statement.request' && m.content.roundId === 'r-cancelled');
    const cancelledAt = Date.now();
    coordinator.send(createMessage('task.cancel', { roundId: 'r-cancelled', reason: { code: 'FEDVAL_ERR_COORD_ROUND_CLOSED', message: 'closed' } }));
    const cancelled = await coordinator.next(endOf('r-cancelled'), 5_000);
    expect({ code: refusal(cancelled), fast: Date.now() - cancelledAt < 5_000 }).toEqual({ code: 'FEDVAL_ERR_AGENT_CANCELLED', fast: true });
    coordinator.send(createMessage('key_statement', { roundId: 'r-cancelled', keyStatement: version3 }));
    // The coordinator refuses the site's request (its error reply names the request): the wait ends now, and the site is
    // free for the next round (not FEDVAL_ERR_AGENT_BUSY).
    coordinator.send(hostileTask('r-request-refused', { metricSpec: METRIC_SPEC, contribution: byDigest3 }));
    const request = await coordinator.next((m) => m.type === 'key_statement.request' && m.content.roundId === 'r-request-refused');
    const refusedAt = Date.now();
    coordinator.send(createErrorMessage({ code: 'FEDVAL_ERR_COORD_NO_KEY_STATEMENT', message: 'no such statement' }, request.id));
    const requestRefused = await coordinator.next(endOf('r-request-refused'), 5_000);
    expect({ code: refusal(requestRefused), fast: Date.now() - refusedAt < 5_000 }).toEqual({ code: unauthenticated, fast: true });
    // Unanswered, the wait ends at the task's deadline when that comes before the timeout.
    const deadlineAt = Date.now();
    coordinator.send(hostileTask('r-unanswered', { metricSpec: METRIC_SPEC, contribution: byDigest3, deadlineMs: 1_500 }));
    const unanswered = await coordinator.next(endOf('r-unanswered'), 10_000);
    expect({ code: refusal(unanswered), fast: Date.now() - deadlineAt < 10_000 }).toEqual({ code: 'FEDVAL_ERR_AGENT_DEADLINE', fast: true });
    expect(await roundByDigest(coordinator, 'r-version-3', bfvRequest(honest), version3, version3)).toEqual({ outcome: 'contributed', asked: 1 });
    // No refused round was accepted or reported on: refused before any data was read.
    const refused = ['r-other-statement', 'r-forged', 'r-altered', 'r-version-1', 'r-cancelled', 'r-request-refused', 'r-unanswered'];
    expect(coordinator.received.filter((m) => (m.type === 'task.accept' || m.type === 'task.progress') && refused.includes(m.content.roundId))).toEqual([]);
  }, 180_000);
});
