// references.ts — loads references.json, the independent values written by references/make_references.py.
import { readFileSync } from 'node:fs';

export interface MaskingExample {
  t: string; studyId: string; roundId: string;
  privateKeys: Record<string, string>; selfSeeds: Record<string, string>; inputs: Record<string, number[]>;
  masked: Record<string, string[]>; survivors: string[]; dropped: string[]; correction: string[]; unmaskedSum: string[];
}

export interface SecaggReferences {
  agreement: {
    privateKeys: Record<string, string>;
    publicKeys: Record<string, string>;
    secrets: { siteA: string; siteB: string; purpose: 'pairwise-mask' | 'share-transport'; studyId: string; roundId: string; secret: string }[];
  };
  expandMask: { seed: string; t: string; selfMask24: string[]; pairwiseMask5000Sha256: string }[];
  masking: MaskingExample;
  maskingFloat: MaskingExample;
  shamir: {
    prime: string; secret: string; coefficients: string[]; fixedShares: { x: number; y: string }[];
    splitLabel: string; splitThreshold: number; splitShareholders: string[]; splitCoefficients: string[];
    splitShares: { shareholderId: string; x: number; y: string }[];
  };
  shareTransport: {
    key: string; nonceLabel: string; binding: { studyId: string; roundId: string; sender: string; recipient: string };
    shares: { x: number; selfMaskSeed: string; agreementKey: string }; sealed: string;
  };
  uniformity: { bins: number; falseAlarm: number; critical: number };
}

export const references: SecaggReferences = JSON.parse(readFileSync(new URL('../references/references.json', import.meta.url), 'utf8')) as SecaggReferences;

export const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
