// human-output.ts — what the sponsor's commands print for people: privacy figures rounded, ids in full, one fact per line.
import type { ModelView, RoundView, SiteView, StudyView } from '@fedval/protocol';
import { z } from 'zod';

/** ε as people read it: two decimals (ε 1.00, not 0.9999999976718346). */
export function formatEpsilon(epsilon: number): string {
  return epsilon.toFixed(2);
}

/** δ as people read it: two significant digits in scientific notation (1.0e-6). */
export function formatDelta(delta: number): string {
  return delta.toExponential(1);
}

/** The fields of a resolved privacy spec or release summary that people read; the rest stays in `--json`. */
const privacyFigures = z.looseObject({
  epsilon: z.number(),
  delta: z.number(),
  mechanism: z.string().optional(),
  sites: z.array(z.looseObject({ site_id: z.string(), epsilon_spent: z.number().optional(), epsilon_remaining: z.number().optional() })).optional(),
});

/** One line on differential privacy, or on its absence. */
export function describePrivacyFigures(privacy: unknown): string {
  const parsed = privacyFigures.safeParse(privacy);
  if (privacy === null || privacy === undefined) return 'exact release, NO differential privacy';
  if (!parsed.success) return 'differentially private (see --json for the parameters)';
  const { epsilon, delta, mechanism } = parsed.data;
  return `differentially private: ε ${formatEpsilon(epsilon)}, δ ${formatDelta(delta)} per round${mechanism ? ` (${mechanism})` : ''}`;
}

/** Each site's own report of the ε it spent, when the caller may see it (privacy officer, auditor, admin). */
export function describeSiteBudgets(privacy: unknown): string[] {
  const parsed = privacyFigures.safeParse(privacy);
  if (!parsed.success || !parsed.data.sites) return [];
  return parsed.data.sites.map(
    (site) =>
      `  ${site.site_id}: ε spent ${site.epsilon_spent === undefined ? '?' : formatEpsilon(site.epsilon_spent)}` +
      `${site.epsilon_remaining === undefined ? '' : `, ε remaining ${formatEpsilon(site.epsilon_remaining)}`}`,
  );
}

export function describeModel(model: ModelView): string {
  const files = model.files.map((file) => `  ${file.path}  ${file.bytes} bytes  sha256 ${file.sha256}`);
  return [`model ${model.model_id}`, `  ${model.name} ${model.version} (${model.format}), registered ${model.created_at}`, ...files].join('\n');
}

export function describeModelRow(model: ModelView): string {
  return `${model.model_id}  ${model.name} ${model.version} (${model.format})  ${model.created_at}`;
}

export function describeStudy(study: StudyView): string {
  const spec = z
    .looseObject({
      task: z.string().optional(),
      bins: z.number().optional(),
      score_grid: z.looseObject({ method: z.string() }).optional(),
      threshold: z.number().optional(),
      groups: z.array(z.looseObject({ column: z.string() })).optional(),
    })
    .safeParse(study.metric_spec);
  const grid = (data: { bins?: number | undefined; score_grid?: { method: string } | undefined }): string =>
    data.bins === undefined ? '' : data.score_grid ? `${data.bins} bins (fitted ${data.score_grid.method} grid)` : `${data.bins} bins`;
  const metrics = spec.success
    ? [spec.data.task, grid(spec.data), spec.data.threshold !== undefined ? `threshold ${spec.data.threshold}` : '', spec.data.groups?.length ? `subgroups ${spec.data.groups.map((group) => group.column).join(', ')}` : '']
        .filter(Boolean)
        .join(', ')
    : 'see --json';
  const encryption = study.encryption
    ? `BFV n=${study.encryption.poly_modulus_degree}, ${study.encryption.security_bits}-bit, ${study.encryption.ciphertext_bytes_per_site} bytes per site; public key ${study.public_key_registered ? 'registered' : 'NOT registered yet (key holder: fedval keys init)'}`
    : 'NOT encrypted (plaintext test seam)';
  return [
    `study ${study.study_id}  ${JSON.stringify(study.name)}`,
    `  ${study.model_id !== null ? `model ${study.model_id}` : `score column ${study.score_column ?? '?'}`}`,
    `  sites: ${study.sites.join(', ')} (quorum ${study.quorum}; a release needs ${study.release.min_sites})`,
    `  metrics: ${metrics}`,
    `  encryption: ${encryption}`,
    ...(study.encryption ? [`  secure aggregation: ${study.secure_aggregation ? `masked (${study.secure_aggregation.scheme}, threshold ${study.secure_aggregation.threshold})` : 'OFF (sites refuse it unless their policy allows unmasked contributions)'}`] : []),
    `  privacy: ${describePrivacyFigures(study.privacy)}`,
    `  round deadline ${study.deadline_seconds} s; created ${study.created_at}`,
  ].join('\n');
}

export function describeStudyRow(study: StudyView): string {
  const privacy = privacyFigures.safeParse(study.privacy);
  const dp = study.privacy === null ? 'no DP' : privacy.success ? `ε ${formatEpsilon(privacy.data.epsilon)}` : 'DP';
  return `${study.study_id}  ${JSON.stringify(study.name)}  ${study.sites.length} sites  ${dp}  ${study.created_at}`;
}

/** Sites that contributed, refused (or sent something invalid), and have not answered yet. */
export function roundProgress(round: RoundView): { contributed: number; refused: number; pending: number } {
  let contributed = 0;
  let refused = 0;
  let pending = 0;
  for (const site of round.sites) {
    if (site.status === 'contributed') contributed += 1;
    else if (site.status === 'refused' || site.status === 'invalid') refused += 1;
    else pending += 1;
  }
  return { contributed, refused, pending };
}

export function describeProgress(round: RoundView): string {
  const { contributed, refused, pending } = roundProgress(round);
  return `round ${round.round_id} ${round.state}: ${contributed} contributed, ${refused} refused, ${pending} pending`;
}

export function describeRound(round: RoundView): string {
  const lines = [
    `${describeProgress(round)}${round.reason ? ` (${round.reason})` : ''}`,
    `  study ${round.study_id}; started ${round.created_at}, deadline ${round.deadline_at}${round.closed_at ? `, closed ${round.closed_at}` : ''}`,
    ...round.sites.map((site) => `  ${site.site_id}: ${site.status}${site.code ? ` ${site.code}` : ''}`),
    `  release: ${round.release === 'awaiting_key_holder' ? 'awaiting the key holder (fedval decrypt)' : round.release}`,
  ];
  return lines.join('\n');
}

export function describeSite(site: SiteView): string {
  return `${site.site_id}  ${site.connected ? 'connected' : 'offline'}  last seen ${site.last_seen ?? 'never'}  key ${site.key_fingerprint ?? 'not enrolled (token site)'}`;
}
