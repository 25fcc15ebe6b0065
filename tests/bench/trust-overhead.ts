// trust-overhead.ts — what site identity and transport security cost: Ed25519 signing and checking per result and per
// connection, and a whole round's time with enrolled keys over mutual TLS against pre-shared tokens over plain ws.
// Run: node tests/bench/trust-overhead.ts [rounds]   (prints one JSON document)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChallenge, createNonce, generateSiteIdentity, ReplayGuard, signChallenge, signResult, verifyChallengeResponse, verifySignedResult } from '@fedval/trust';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { gbsgScoreLines, writeScoreFile } from '../helpers/gbsg-scores.ts';
import { runCli } from '../helpers/run-cli.ts';
import { issue, makeCa } from '../helpers/test-pki.ts';

const rounds = Number(process.argv[2] ?? 7);
const SITES = ['site-0', 'site-1', 'site-2'];
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Microseconds per call, median of 5 batches of `n`. */
function perCall(n: number, call: (i: number) => void): number {
  const batches: number[] = [];
  for (let batch = 0; batch < 5; batch += 1) {
    const started = performance.now();
    for (let i = 0; i < n; i += 1) call(i);
    batches.push(((performance.now() - started) * 1000) / n);
  }
  return median(batches);
}

const identity = generateSiteIdentity();
const fields = { studyId: '00000000-0000-4000-8000-000000000001', roundId: '00000000-0000-4000-8000-000000000000', siteId: 'site-0', contributionSha256: 'ab'.repeat(32), nonce: createNonce(), sentAt: Date.now() };
const guard = new ReplayGuard({ maxEntries: 1_000_000 });
const challenge = createChallenge({ audience: 'wss://coordinator.example/ws' });
const challengeSignature = signChallenge(identity.privateKeyPem, challenge, { siteId: 'site-0', purpose: 'connect', expectedAudience: challenge.audience });
const crypto = {
  sign_result_us: perCall(500, () => signResult(identity.privateKeyPem, fields)),
  // A fresh signature each time: the replay guard refuses a nonce twice.
  sign_and_verify_result_us: perCall(500, () => {
    const fresh = { ...fields, nonce: createNonce(), sentAt: Date.now() };
    verifySignedResult(fresh, identity.publicKey, signResult(identity.privateKeyPem, fresh), guard);
  }),
  verify_connect_us: perCall(500, () =>
    verifyChallengeResponse({ challenge, siteId: 'site-0', purpose: 'connect', publicKey: identity.publicKey, signature: challengeSignature }),
  ),
};

/** A deployment of three sites on GBSG scores: pre-shared tokens over ws, or enrolled keys over wss with mutual TLS. */
async function deploy(secured: boolean): Promise<Deployment> {
  let deployment: Deployment;
  let extraYaml: (site: string) => string[] = () => [];
  if (secured) {
    const pki = mkdtempSync(join(tmpdir(), 'fedval-bench-pki-'));
    const ca = makeCa(pki, 'bench-ca');
    const server = issue(pki, ca, 'server', 'localhost', 'server');
    const clients = Object.fromEntries(SITES.map((site) => [site, issue(pki, ca, site, site, 'client')]));
    deployment = await startDeployment(SITES, { tls: { cert: server.cert, key: server.key, client_ca: ca.cert, ca: ca.cert }, enrolledSites: SITES });
    extraYaml = (site) => [`tls: { ca: ${ca.cert}, cert: ${clients[site]!.cert}, key: ${clients[site]!.key} }`];
  } else {
    deployment = await startDeployment(SITES);
  }
  const lines = gbsgScoreLines();
  const parts = [lines.slice(0, 230), lines.slice(230, 460), lines.slice(460)];
  for (const [i, site] of SITES.entries()) {
    const file = writeScoreFile(deployment.dir, site, parts[i]!);
    if (secured) {
      const issued = await deployment.api('POST', `/api/sites/${site}/enrollment-token`, undefined, 'admin');
      const config = deployment.writeAgentConfig(site, file, { label: 'status', extraYaml: extraYaml(site) });
      const enrolled = await runCli('fedval-agent', ['enroll', '--config', config, '--token', issued.body.enrollment_token]);
      if (enrolled.code !== 0) throw new Error(enrolled.stderr);
    }
    deployment.startAgent(site, file, { label: 'status', extraYaml: extraYaml(site) });
  }
  await waitForSites(deployment, SITES);
  return deployment;
}

/** A round's duration as the coordinator recorded it (opened → closed, ms resolution), not the test's polling. */
async function roundSeconds(deployment: Deployment, studyId: string): Promise<number> {
  const round = await deployment.api('POST', `/api/studies/${studyId}/rounds`);
  const closed = await waitForRoundClosed(deployment, round.body.round_id);
  if (closed.state !== 'aggregated') throw new Error(`round ${closed.state}`);
  return (Date.parse(closed.closed_at) - Date.parse(closed.created_at)) / 1000;
}

const plain = await deploy(false);
const secured = await deploy(true);
try {
  const study = { name: 'bench', score_column: 'score', metric_spec: { bins: 1000, threshold: 0.3 }, sites: SITES, quorum: 3, contribution: 'plaintext' };
  const studies = {
    plain: (await plain.api('POST', '/api/studies', study)).body.study_id as string,
    secured: (await secured.api('POST', '/api/studies', study)).body.study_id as string,
  };
  const seconds: Record<'plain' | 'secured', number[]> = { plain: [], secured: [] };
  await roundSeconds(plain, studies.plain); // warm-up, untimed
  await roundSeconds(secured, studies.secured);
  for (let i = 0; i < rounds; i += 1) {
    // Alternate so drift on a noisy machine affects both alike.
    seconds.plain.push(await roundSeconds(plain, studies.plain));
    seconds.secured.push(await roundSeconds(secured, studies.secured));
  }
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'trust-overhead',
        crypto,
        scenario: 'GBSG scores, 3 sites, plaintext contributions (transport and identity cost only), 1000 bins; round time from opened to closed, as the coordinator recorded it',
        rounds,
        seconds,
        median_seconds: { tokens_over_ws: median(seconds.plain), enrolled_keys_over_mutual_tls: median(seconds.secured) },
        ratio_secured_to_plain: median(seconds.secured) / median(seconds.plain),
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await plain.stop();
  await secured.stop();
}
