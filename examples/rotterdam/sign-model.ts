// sign-model.ts — signs the example bundle's manifest.json with the EXAMPLE sponsor key (creating that key pair once), and prints its fingerprint.
//
//   node examples/rotterdam/sign-model.ts                   # sign model/manifest.json (idempotent)
//   node examples/rotterdam/sign-model.ts survival-model    # sign survival-model/manifest.json
//
// The key in sponsor-example.key is published with the repository: it proves nothing about who made a bundle. Real
// sponsors keep their private key secret and give sites only its fingerprint.
import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateSiteIdentity, signManifest, verifyManifestSignature } from '@fedval/trust';

const here = fileURLToPath(new URL('.', import.meta.url));
const keyPath = `${here}sponsor-example.key`;
const bundleDir = process.argv[2] ?? 'model';
if (!/^[a-z-]+$/.test(bundleDir)) throw new Error('give a bundle directory of examples/rotterdam, e.g. survival-model');
const manifestPath = `${here}${bundleDir}/manifest.json`;

const WARNING = [
  'EXAMPLE SPONSOR KEY - PUBLISHED WITH FEDVAL - NEVER USE IT TO SIGN A REAL MODEL.',
  'Anyone can sign anything with this key. It exists so the Rotterdam example bundle can be signed and',
  'the example site configurations can trust its fingerprint. Generate your own sponsor key for real studies',
  'and keep it secret (mode 0600, off the coordinator).',
  '',
].join('\n');

if (!existsSync(keyPath)) {
  const identity = generateSiteIdentity(); // an Ed25519 key pair: the same primitive serves sponsors
  writeFileSync(keyPath, `${WARNING}${identity.privateKeyPem}`, { mode: 0o600, flag: 'wx' });
}
// OpenSSL skips the explanatory text before the PEM armour (RFC 7468 §2).
const sponsorKey = createPrivateKey(readFileSync(keyPath, 'utf8'));
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
const signed = { ...manifest, signature: signManifest(manifest, sponsorKey) };
const fingerprint = verifyManifestSignature(signed);
writeFileSync(manifestPath, `${JSON.stringify(signed, null, 2)}\n`);
process.stdout.write(`signed ${manifestPath}\nsponsor key fingerprint (for policy.trusted_sponsor_keys): ${fingerprint}\n`);
