// secure-aggregation.ts — the coordinator's side of a securely aggregated round (Bonawitz et al., "Practical Secure
// Aggregation for Privacy-Preserving Machine Learning", CCS 2017, Fig. 4 with the consistency check): it only relays
// the sites' signed records and sealed shares, and keeps them as the round's transcript for the key holder; rebuilt after a
// restart by replaying the steps the store kept.
import type { SecaggTranscript } from '@fedval/protocol';
import { verifySecaggRecord } from '@fedval/trust';
import type { KeyAdvertisement, ShareReveal, SurvivorSignature } from '@fedval/trust';
import { CoordinatorError } from './errors.ts';
import type { SecaggEvent } from './storage/store.ts';

/** The phases of a round, in order: AdvertiseKeys, ShareKeys, MaskedInputCollection, ConsistencyCheck, Unmasking. */
export type SecaggPhase = 'advertise' | 'share' | 'input' | 'consistency' | 'unmask' | 'done';

/** What the coordinator must send when a phase completes: one message content per site. */
export type SecaggOutbox =
  | { kind: 'keys'; to: string[]; advertisements: KeyAdvertisement[] }
  | { kind: 'inbox'; inboxes: Map<string, { from: string; sealed: Uint8Array }[]> }
  | { kind: 'survivors'; to: string[]; survivors: string[] }
  | { kind: 'unmask'; to: string[]; survivors: string[]; signatures: SurvivorSignature[] }
  | { kind: 'done' }
  | { kind: 'failed'; problem: string };

/** What a phase sends to sites (not how the round ends). */
export type SecaggPhaseOutbox = Exclude<SecaggOutbox, { kind: 'done' } | { kind: 'failed' }>;

const sorted = (sites: Iterable<string>): string[] => [...sites].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((site, i) => site === b[i]);

/**
 * The state of one round's secure aggregation at the coordinator. Each phase waits for every site still in it, and
 * ends early only for a site that refused, was refused, or disconnected (a dropout); fewer than `threshold` sites left
 * fails the round.
 */
export class SecureAggregationRound {
  readonly threshold: number;
  readonly studyId: string;
  readonly roundId: string;
  phase: SecaggPhase = 'advertise';
  readonly #sites: readonly string[];
  /** Sites out of the round: refused, invalid, or disconnected. */
  readonly #out = new Set<string>();
  readonly #advertisements = new Map<string, KeyAdvertisement>();
  readonly #shares = new Map<string, { to: string; sealed: Uint8Array }[]>();
  /** The advertisements relayed to the sites at the end of AdvertiseKeys (U1), sent again to a site that comes back. */
  #relayed: KeyAdvertisement[] = [];
  /** Each site's inbox of sealed shares, relayed at the end of ShareKeys; kept through the input phase for a site that comes back. */
  #inboxes = new Map<string, { from: string; sealed: Uint8Array }[]>();
  #shared: string[] = [];
  #contributed = new Set<string>();
  #survivors: string[] = [];
  readonly #consistency = new Map<string, SurvivorSignature>();
  #signers: string[] = [];
  readonly #reveals = new Map<string, ShareReveal>();

  constructor(options: { threshold: number; studyId: string; roundId: string; sites: readonly string[] }) {
    this.threshold = options.threshold;
    this.studyId = options.studyId;
    this.roundId = options.roundId;
    this.#sites = sorted(options.sites);
  }

  /** Sites that advertised keys (U1). */
  get advertised(): string[] {
    return sorted(this.#advertisements.keys());
  }

  /** Sites whose shares were relayed (U2): the only ones whose masked input counts. */
  get shared(): readonly string[] {
    return this.#shared;
  }

  get survivors(): readonly string[] {
    return this.#survivors;
  }

  /** The site left the round (refused, invalid, disconnected); a phase no longer waits for it. */
  markOut(siteId: string): void {
    this.#out.add(siteId);
  }

  isOut(siteId: string): boolean {
    return this.#out.has(siteId);
  }

  /**
   * The sites the current phase still waits for (in it, not out, not yet answered): those a per-phase timeout drops.
   * Empty once the round is done.
   */
  awaited(): string[] {
    const missing = (sites: readonly string[], done: (site: string) => boolean): string[] => sites.filter((site) => !this.#out.has(site) && !done(site));
    switch (this.phase) {
      case 'advertise':
        return missing(this.#sites, (site) => this.#advertisements.has(site));
      case 'share':
        return missing(this.advertised, (site) => this.#shares.has(site));
      case 'input':
        return missing(this.#shared, (site) => this.#contributed.has(site));
      case 'consistency':
        return missing(this.#survivors, (site) => this.#consistency.has(site));
      case 'unmask':
        return missing(this.#signers, (site) => this.#reveals.has(site));
      case 'done':
        return [];
    }
  }

  /** AdvertiseKeys: a site's signed keys; `enrolledKey` is the key the coordinator enrolled for it (sites check the roster). */
  addAdvertisement(siteId: string, advertisement: KeyAdvertisement, enrolledKey: string | undefined): void {
    this.#expect('advertise', siteId, this.#sites);
    if (this.#advertisements.has(siteId)) throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_PHASE', 'keys already advertised');
    this.#checkRecord(siteId, advertisement);
    if (enrolledKey === undefined || advertisement.signing_key !== enrolledKey || !verifySecaggRecord('advertisement', advertisement, enrolledKey)) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_INVALID', 'the advertisement is not signed by the enrolled key');
    }
    this.#advertisements.set(siteId, advertisement);
  }

  /**
   * Whether `message` repeats, byte for byte, what the site already sent in this round (a site re-sends what the
   * coordinator may have lost in a restart): a repeat changes nothing. Other content goes to the add* methods, which
   * refuse a second, different one.
   */
  isRepeat(
    siteId: string,
    message:
      | { kind: 'advertisement'; advertisement: KeyAdvertisement }
      | { kind: 'shares'; shares: { to: string; sealed: Uint8Array }[] }
      | { kind: 'consistency'; signed: SurvivorSignature }
      | { kind: 'reveal'; reveal: ShareReveal },
  ): boolean {
    if (this.#out.has(siteId)) return false;
    const same = (a: unknown, b: unknown): boolean => a !== undefined && JSON.stringify(a) === JSON.stringify(b);
    switch (message.kind) {
      case 'advertisement':
        return same(this.#advertisements.get(siteId), message.advertisement);
      case 'shares': {
        // Relayed already (phases after ShareKeys keep no shares, only the inboxes): the repeat is dropped unread.
        if (this.phase !== 'advertise' && this.phase !== 'share') return this.#shared.includes(siteId);
        const kept = this.#shares.get(siteId);
        const text = (shares: { to: string; sealed: Uint8Array }[]): string => JSON.stringify(shares.map((share) => [share.to, Buffer.from(share.sealed).toString('base64')]));
        return kept !== undefined && text(kept) === text(message.shares);
      }
      case 'consistency':
        return same(this.#consistency.get(siteId), message.signed);
      case 'reveal':
        return same(this.#reveals.get(siteId), message.reveal);
    }
  }

  /**
   * What a site that (re)connects needs to go on from the current phase, when it is still in it and has not answered
   * it: the relayed keys (ShareKeys), its inbox (masked input), the survivor set (ConsistencyCheck), the unmasking
   * request (Unmasking). The same content as when the phase began: a site refuses anything else.
   */
  catchUp(siteId: string): SecaggPhaseOutbox | undefined {
    if (this.#out.has(siteId) || !this.awaited().includes(siteId)) return undefined;
    switch (this.phase) {
      case 'share':
        return this.#relayed.some((ad) => ad.site_id === siteId) ? { kind: 'keys', to: [siteId], advertisements: this.#relayed } : undefined;
      case 'input': {
        const inbox = this.#inboxes.get(siteId);
        return inbox ? { kind: 'inbox', inboxes: new Map([[siteId, inbox]]) } : undefined;
      }
      case 'consistency':
        return { kind: 'survivors', to: [siteId], survivors: [...this.#survivors] };
      case 'unmask':
        return { kind: 'unmask', to: [siteId], survivors: [...this.#survivors], signatures: this.#signers.map((site) => this.#consistency.get(site) as SurvivorSignature) };
      default:
        return undefined;
    }
  }

  /** Per site, the phase it was last sent a catch-up in for a repeated advertisement, since it last connected. */
  readonly #repeatCatchUps = new Map<string, SecaggPhase>();

  /** A site (re)connected: its next repeated advertisement may be answered with a catch-up again. */
  connected(siteId: string): void {
    this.#repeatCatchUps.delete(siteId);
  }

  /**
   * The catch-up a site's repeated advertisement asks for: at most one per phase per connection, so a site repeating
   * its advertisement cannot make the coordinator send the phase's content (O(n) in Unmasking) again and again.
   */
  catchUpOnRepeat(siteId: string): SecaggPhaseOutbox | undefined {
    if (this.#repeatCatchUps.get(siteId) === this.phase) return undefined;
    const outbox = this.catchUp(siteId);
    if (outbox) this.#repeatCatchUps.set(siteId, this.phase);
    return outbox;
  }

  /** ShareKeys: one sealed share pair for every other advertised site, exactly (a site keeps its own share). */
  addShares(siteId: string, shares: { to: string; sealed: Uint8Array }[]): void {
    this.#expect('share', siteId, this.advertised);
    if (this.#shares.has(siteId)) throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_PHASE', 'shares already sent');
    if (!sameSet(sorted(shares.map((share) => share.to)), this.advertised.filter((site) => site !== siteId))) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_INVALID', 'shares must address every other advertised site once');
    }
    this.#shares.set(siteId, shares);
  }

  /** A masked input arrived (task.result): only from a site whose shares were relayed, in the input phase. */
  checkInput(siteId: string): void {
    this.#expect('input', siteId, this.#shared);
  }

  addInput(siteId: string): void {
    this.#contributed.add(siteId);
  }

  /** ConsistencyCheck: the site's signature on U3, checked against its enrolled key. */
  addConsistency(siteId: string, signed: SurvivorSignature, enrolledKey: string | undefined): void {
    this.#expect('consistency', siteId, this.#survivors);
    if (this.#consistency.has(siteId)) throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_PHASE', 'already signed');
    this.#checkRecord(siteId, signed);
    if (!sameSet(signed.survivors, this.#survivors) || enrolledKey === undefined || !verifySecaggRecord('survivors', signed, enrolledKey)) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_INVALID', 'the survivor signature is not on this round’s survivors or does not verify');
    }
    this.#consistency.set(siteId, signed);
  }

  /** Unmasking: the site's signed reveal for U3. */
  addReveal(siteId: string, reveal: ShareReveal, enrolledKey: string | undefined): void {
    this.#expect('unmask', siteId, this.#signers);
    if (this.#reveals.has(siteId)) throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_PHASE', 'already revealed');
    this.#checkRecord(siteId, reveal);
    if (!sameSet(reveal.survivors, this.#survivors) || enrolledKey === undefined || !verifySecaggRecord('reveal', reveal, enrolledKey)) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_INVALID', 'the reveal is not for this round’s survivors or does not verify');
    }
    this.#reveals.set(siteId, reveal);
  }

  /**
   * Moves to the next phase once no site still in the current one is awaited; returns what to send, or undefined
   * while waiting. A phase left with fewer than `threshold` sites fails the round.
   */
  advance(): SecaggOutbox | undefined {
    const waiting = (sites: readonly string[], done: (site: string) => boolean): boolean => sites.some((site) => !this.#out.has(site) && !done(site));
    const live = (sites: readonly string[]): string[] => sites.filter((site) => !this.#out.has(site));
    switch (this.phase) {
      case 'advertise': {
        if (waiting(this.#sites, (site) => this.#advertisements.has(site))) return undefined;
        const advertised = this.advertised.filter((site) => !this.#out.has(site));
        if (advertised.length < this.threshold) return this.#fail(`${advertised.length} sites advertised keys, the threshold is ${this.threshold}`);
        this.phase = 'share';
        this.#relayed = advertised.map((site) => this.#advertisements.get(site) as KeyAdvertisement);
        return { kind: 'keys', to: advertised, advertisements: this.#relayed };
      }
      case 'share': {
        if (waiting(this.advertised, (site) => this.#shares.has(site))) return undefined;
        // U2: every site whose shares arrived, even one that dropped since: the others mask with it, and its mask key
        // is rebuilt from their shares if its masked input never arrives.
        this.#shared = sorted(this.#shares.keys());
        if (this.#shared.length < this.threshold) return this.#fail(`${this.#shared.length} sites shared their keys, the threshold is ${this.threshold}`);
        const inboxes = new Map<string, { from: string; sealed: Uint8Array }[]>();
        for (const to of live(this.#shared)) inboxes.set(to, []);
        for (const from of this.#shared) {
          for (const share of this.#shares.get(from) ?? []) inboxes.get(share.to)?.push({ from, sealed: share.sealed });
        }
        this.#shares.clear();
        this.#inboxes = inboxes;
        this.phase = 'input';
        return { kind: 'inbox', inboxes };
      }
      case 'input': {
        if (waiting(this.#shared, (site) => this.#contributed.has(site))) return undefined;
        this.#inboxes = new Map();
        this.#survivors = this.#shared.filter((site) => this.#contributed.has(site));
        if (this.#survivors.length < this.threshold) return this.#fail(`${this.#survivors.length} masked inputs arrived, the threshold is ${this.threshold}`);
        this.phase = 'consistency';
        return { kind: 'survivors', to: [...this.#survivors], survivors: [...this.#survivors] };
      }
      case 'consistency': {
        if (waiting(this.#survivors, (site) => this.#consistency.has(site))) return undefined;
        this.#signers = sorted(this.#consistency.keys());
        // Every survivor must sign U3 (sites and the key holder refuse otherwise): a survivor that did not sign may refund.
        if (this.#signers.length < this.#survivors.length) {
          return this.#fail(`${this.#signers.length} of the ${this.#survivors.length} survivors signed the survivor set; every survivor must`);
        }
        this.phase = 'unmask';
        return { kind: 'unmask', to: [...this.#signers], survivors: [...this.#survivors], signatures: this.#signers.map((site) => this.#consistency.get(site) as SurvivorSignature) };
      }
      case 'unmask': {
        if (waiting(this.#signers, (site) => this.#reveals.has(site))) return undefined;
        if (this.#reveals.size < this.threshold) return this.#fail(`${this.#reveals.size} sites revealed shares, the threshold is ${this.threshold}`);
        this.phase = 'done';
        return { kind: 'done' };
      }
      case 'done':
        return undefined;
    }
  }

  /**
   * Rebuilds a round from the steps the store kept, in order (a coordinator restarted mid-round): each step is applied
   * as when it happened, signatures checked again against `enrolledKey`, and the phases advanced after each step
   * exactly as they were then (advance() depends only on the steps). Returns the round, in the phase it had reached, and
   * how it ended if the steps already complete or fail it (the previous run died before closing it).
   */
  static replay(
    options: ConstructorParameters<typeof SecureAggregationRound>[0],
    events: readonly SecaggEvent[],
    enrolledKey: (siteId: string) => string | undefined,
  ): { round: SecureAggregationRound; ended: SecaggOutbox | undefined } {
    const round = new SecureAggregationRound(options);
    let ended: SecaggOutbox | undefined;
    for (const event of events) {
      if (ended) throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_PHASE', `a step after the round ended (${event.kind} of ${event.site})`);
      round.apply(event, enrolledKey);
      ended = round.#advanceAll();
    }
    return { round, ended };
  }

  /** Applies one kept step (see replay). */
  apply(event: SecaggEvent, enrolledKey: (siteId: string) => string | undefined): void {
    switch (event.kind) {
      case 'advertisement':
        return this.addAdvertisement(event.site, event.advertisement, enrolledKey(event.site));
      case 'shares':
        return this.addShares(event.site, event.shares);
      case 'input':
        this.checkInput(event.site);
        return this.addInput(event.site);
      case 'out':
        return this.markOut(event.site);
      case 'consistency':
        return this.addConsistency(event.site, event.signed, enrolledKey(event.site));
      case 'reveal':
        return this.addReveal(event.site, event.reveal, enrolledKey(event.site));
    }
  }

  /** Advances as far as the steps allow, dropping what would be sent; returns the end (done or failed) if reached. */
  #advanceAll(): SecaggOutbox | undefined {
    for (;;) {
      const outbox = this.advance();
      if (!outbox) return undefined;
      if (outbox.kind === 'done' || outbox.kind === 'failed') return outbox;
    }
  }

  /** Everything the sites signed, for the key holder. */
  transcript(): SecaggTranscript {
    return {
      threshold: this.threshold,
      advertisements: this.advertised.map((site) => this.#advertisements.get(site) as KeyAdvertisement),
      shared: [...this.#shared],
      survivors: [...this.#survivors],
      consistency: sorted(this.#consistency.keys()).map((site) => this.#consistency.get(site) as SurvivorSignature),
      reveals: sorted(this.#reveals.keys()).map((site) => this.#reveals.get(site) as ShareReveal),
    };
  }

  #fail(problem: string): SecaggOutbox {
    return { kind: 'failed', problem };
  }

  #expect(phase: SecaggPhase, siteId: string, members: readonly string[]): void {
    if (this.phase !== phase) throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_PHASE', `the round is in phase ${this.phase}`);
    if (!members.includes(siteId) || this.#out.has(siteId)) throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_PHASE', 'the site is not part of this phase');
  }

  #checkRecord(siteId: string, record: { study_id: string; round_id: string; site_id: string }): void {
    if (record.site_id !== siteId || record.round_id !== this.roundId || record.study_id !== this.studyId) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_INVALID', 'the record names another study, round or site');
    }
  }
}
