// secure-aggregation.ts — what secure aggregation (Bonawitz et al. double masking) adds to a bfv round, per site, at the
// coordinator and at the key holder, for 3, 20 and 100 sites, with and without one dropout, as ratios to the unmasked
// round measured in the same run. In-process: the real agent sessions, the coordinator's phase machine and the key
// holder's unmasking with real crypto (X25519, Shamir, AES-GCM, PRG, Ed25519, node-seal); the relay is this script.
// Site time is measured on one site (all do the same work): extra is the secure-aggregation work (keys, shares, masks,
// signatures, reveal), baseline the BFV encryption of the vector; bytes are encoded protocol messages. Timings are
// wall-clock on a shared machine: read the ratios, not the absolute numbers.
// Run: node tests/bench/secure-aggregation.ts [sites ...]   (prints one JSON document)
import { createPrivateKey } from 'node:crypto';
import { parseRoster, planUnmasking } from '@fedval/cli';
import { createRelease } from '@fedval/dp';
import { createHeContext, decryptVector, EncryptedSum, encryptVector, generateKeyPair, planBfvParameters } from '@fedval/he';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import { createMessage, encodeMessage } from '@fedval/protocol';
import type { Message, SecaggTranscript } from '@fedval/protocol';
import { generateSiteIdentity } from '@fedval/trust';
import type { ResultAttestation, SurvivorSignature } from '@fedval/trust';
import { SecureAggregationRound } from '../../coordinator/src/secure-aggregation.ts';
import { SecureAggregationSession } from '../../site-agent/src/secure-aggregation-session.ts';

const SIZES = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [3, 20, 100];
const STUDY = '00000000-0000-4000-8000-000000000001';
const ROUND = '00000000-0000-4000-8000-000000000002';
const bytesOf = (message: Message): number => encodeMessage(message).byteLength;
const time = <T>(work: () => T): [T, number] => {
  const started = performance.now();
  const value = work();
  return [value, performance.now() - started];
};
/** Median of three timed runs (after the caller's warm-up). */
const median3 = (work: () => unknown): number => [0, 1, 2].map(() => time(work)[1]).sort((a, b) => a - b)[1]!;

async function measure(n: number, dropouts: number) {
  const sites = Array.from({ length: n }, (_, i) => `site-${String(i).padStart(3, '0')}`);
  const threshold = Math.max(2, Math.floor((2 * n) / 3) + 1 > n - dropouts ? n - dropouts : Math.floor((2 * n) / 3) + 1);
  const identities = sites.map(() => generateSiteIdentity());
  const roster = parseRoster(JSON.stringify({ sites: sites.map((site, i) => ({ site_id: site, fingerprint: identities[i]!.fingerprint })) }), 'bench');
  const rosterMap = new Map([...roster.sites].map(([site, entry]) => [site, entry.fingerprint]));
  const layout = createStatisticsLayout(resolveMetricSpec({ task: 'binary', bins: 1000 }));
  const release = createRelease(layout, null);
  const plan = planBfvParameters({ vectorLength: release.length, maxSites: n, maxAbsPerSite: 100_000 });
  const he = await createHeContext(plan);
  const { publicKey, secretKey } = generateKeyPair(he);
  const vector = new Float64Array(release.length).map((_, i) => i % 7);
  const slots = plan.ciphertextCount * plan.polyModulusDegree;
  const t = BigInt(plan.plainModulus);
  try {
    // The unmasked round: encrypt (site), add (coordinator), decrypt (key holder); warmed up, median of three.
    const encrypted = encryptVector(he, publicKey, vector);
    const encryptMs = median3(() => encryptVector(he, publicKey, vector));
    const resultBytes = bytesOf(createMessage('task.result', { roundId: ROUND, contribution: { kind: 'bfv', ciphertexts: encrypted.ciphertexts.map((c) => new Uint8Array(c)) }, contributionSha256: 'ab'.repeat(32) }));
    // One fresh encryption per site: the same ciphertext added n times would add its noise coherently.
    const contributions = Array.from({ length: n - dropouts }, (_, i) => (i === 0 ? encrypted : encryptVector(he, publicKey, vector)));
    const addMs = median3(() => {
      const sum = new EncryptedSum(he);
      for (const contribution of contributions) sum.add(contribution);
      return sum.toEncryptedVector();
    });
    const plainSum = new EncryptedSum(he);
    for (const contribution of contributions) plainSum.add(contribution);
    decryptVector(he, secretKey, plainSum.toEncryptedVector(), n - dropouts);
    const decryptMs = median3(() => decryptVector(he, secretKey, plainSum.toEncryptedVector(), n - dropouts));

    // Secure aggregation. Site 0 is timed; the coordinator's phase machine is timed over all its calls.
    let siteMs = 0;
    let coordinatorMs = 0;
    const siteBytes = { sent: 0, received: 0 };
    let relayedBytes = 0;
    const timedSite = <T>(i: number, work: () => T): T => {
      const [value, ms] = time(work);
      if (i === 0) siteMs += ms;
      return value;
    };
    const timedCoordinator = <T>(work: () => T): T => {
      const [value, ms] = time(work);
      coordinatorMs += ms;
      return value;
    };
    const count = (i: number, direction: 'sent' | 'received', message: Message): void => {
      const size = bytesOf(message);
      relayedBytes += size;
      if (i === 0) siteBytes[direction] += size;
    };
    const coordinator = new SecureAggregationRound({ threshold, studyId: STUDY, roundId: ROUND, sites });
    const sessions = sites.map((siteId, i) =>
      timedSite(i, () => new SecureAggregationSession({ studyId: STUDY, roundId: ROUND, siteId, threshold, siteKey: createPrivateKey(identities[i]!.privateKeyPem), minSites: 2, roster: rosterMap })),
    );
    sessions.forEach((session, i) => {
      const advertisement = timedSite(i, () => session.advertisement());
      count(i, 'sent', createMessage('secagg.advertise', { roundId: ROUND, advertisement }));
      timedCoordinator(() => coordinator.addAdvertisement(sites[i]!, advertisement, identities[i]!.publicKey));
    });
    const keys = timedCoordinator(() => coordinator.advance());
    if (keys?.kind !== 'keys') throw new Error('no keys phase');
    sessions.forEach((session, i) => {
      count(i, 'received', createMessage('secagg.keys', { roundId: ROUND, advertisements: keys.advertisements }));
      const shares = timedSite(i, () => session.shareKeys(keys.advertisements)).map((share) => ({ to: share.to, sealed: new Uint8Array(share.sealed) }));
      count(i, 'sent', createMessage('secagg.shares', { roundId: ROUND, shares }));
      timedCoordinator(() => coordinator.addShares(sites[i]!, shares));
    });
    const inbox = timedCoordinator(() => coordinator.advance());
    if (inbox?.kind !== 'inbox') throw new Error('no inbox phase');
    sessions.forEach((session, i) => {
      const mine = inbox.inboxes.get(sites[i]!)!.map((share) => ({ from: share.from, sealed: new Uint8Array(share.sealed) }));
      count(i, 'received', createMessage('secagg.inbox', { roundId: ROUND, shares: mine }));
      timedSite(i, () => session.receiveShares(mine));
    });
    const survivorsList = sites.slice(0, n - dropouts);
    for (const site of sites.slice(n - dropouts)) coordinator.markOut(site);
    // Masked inputs: site 0 pays the mask and the encryption; the others' masks are needed only for the sum.
    const attestations = new Map<string, ResultAttestation | null>();
    const sum = new EncryptedSum(he);
    survivorsList.forEach((site, i) => {
      const mask = timedSite(i, () => sessions[i]!.slotMask(slots, t));
      const masked = encryptVector(he, publicKey, vector, { slotMask: mask });
      sum.add(masked);
      attestations.set(site, { dataset_commitment: 'ab'.repeat(32), audit_head: { seq: 1, hash: 'cd'.repeat(32) }, secure_aggregation: { threshold, peers: sessions[i]!.peers } });
      timedCoordinator(() => {
        coordinator.checkInput(site);
        coordinator.addInput(site);
      });
    });
    const survivorsOut = timedCoordinator(() => coordinator.advance());
    if (survivorsOut?.kind !== 'survivors') throw new Error('no survivors phase');
    const signatures: SurvivorSignature[] = [];
    survivorsList.forEach((site, i) => {
      count(i, 'received', createMessage('secagg.survivors', { roundId: ROUND, survivors: survivorsOut.survivors }));
      const signed = timedSite(i, () => sessions[i]!.signSurvivors(survivorsOut.survivors));
      count(i, 'sent', createMessage('secagg.consistency', { roundId: ROUND, signed }));
      timedCoordinator(() => coordinator.addConsistency(site, signed, identities[i]!.publicKey));
      signatures.push(signed);
    });
    const unmask = timedCoordinator(() => coordinator.advance());
    if (unmask?.kind !== 'unmask') throw new Error('no unmask phase');
    survivorsList.forEach((site, i) => {
      count(i, 'received', createMessage('secagg.unmask', { roundId: ROUND, survivors: unmask.survivors, signatures: unmask.signatures }));
      const { reveal } = timedSite(i, () => sessions[i]!.reveal(unmask.survivors, unmask.signatures, { revealed: {} }));
      count(i, 'sent', createMessage('secagg.reveal', { roundId: ROUND, reveal }));
      timedCoordinator(() => coordinator.addReveal(site, reveal, identities[i]!.publicKey));
    });
    if (timedCoordinator(() => coordinator.advance())?.kind !== 'done') throw new Error('not done');
    const transcript: SecaggTranscript = coordinator.transcript();
    const transcriptBytes = Buffer.byteLength(JSON.stringify(transcript));
    // The key holder: check the transcript, rebuild the seeds and keys, compute the masks, decrypt and unmask.
    const [unmasking, planMs] = time(() => planUnmasking(transcript, { roster, studyId: STUDY, roundId: ROUND, attestations }));
    if (!unmasking.ok) throw new Error(unmasking.problem);
    const [slotUnmask, maskMs] = time(() => unmasking.slotUnmask(slots, t));
    const unmasked = decryptVector(he, secretKey, sum.toEncryptedVector(), n - dropouts, { slotUnmask });
    const expected = vector.map((value) => value * (n - dropouts));
    if (!unmasked.every((value, i) => value === expected[i])) throw new Error('the unmasked sum is wrong');
    const round3 = (x: number) => Math.round(x * 1000) / 1000;
    return {
      sites: n,
      dropouts,
      threshold,
      slots,
      per_site: {
        baseline_bytes_sent: resultBytes,
        extra_bytes_sent: siteBytes.sent,
        extra_bytes_received: siteBytes.received,
        bytes_sent_ratio: round3((resultBytes + siteBytes.sent) / resultBytes),
        baseline_ms: round3(encryptMs),
        extra_ms: round3(siteMs),
        time_ratio: round3((encryptMs + siteMs) / encryptMs),
      },
      coordinator: {
        baseline_bytes_received: resultBytes * (n - dropouts),
        extra_bytes_relayed: relayedBytes,
        transcript_bytes_kept: transcriptBytes,
        bytes_ratio: round3((resultBytes * (n - dropouts) + relayedBytes) / (resultBytes * (n - dropouts))),
        baseline_ms: round3(addMs),
        extra_ms: round3(coordinatorMs),
        time_ratio: round3((addMs + coordinatorMs) / addMs),
      },
      key_holder: {
        baseline_ms: round3(decryptMs),
        extra_ms: round3(planMs + maskMs),
        time_ratio: round3((planMs + maskMs + decryptMs) / decryptMs),
      },
    };
  } finally {
    he.dispose();
  }
}

const results = [];
for (const n of SIZES) for (const dropouts of [0, 1]) results.push(await measure(n, dropouts));
process.stdout.write(`${JSON.stringify({ bench: 'secure-aggregation', node: process.version, results }, null, 2)}\n`);
