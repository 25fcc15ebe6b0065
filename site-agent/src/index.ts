// index.ts — the site agent's programmatic API: the agent, its configuration, its errors and local evaluation.
export { SiteAgent } from './agent.ts';
export type { SiteAgentEvents } from './agent.ts';
export { normalizedCoordinatorUrl } from './coordinator-connection.ts';
export { loadAgentConfig, resolveAgentConfig, SITE_KEY_FILE } from './config.ts';
export type { AgentConfig, AgentConfigInput, ResolveAgentConfigOptions } from './config.ts';
export { AgentError, AGENT_ERROR_MESSAGES } from './errors.ts';
export type { AgentErrorCode } from './errors.ts';
export { loadAgentTls } from './tls.ts';
export type { AgentTlsOptions } from './tls.ts';
export { evaluateDataset } from './evaluation.ts';
export type { EvaluationOptions, EvaluationOutcome, LabelRule } from './evaluation.ts';
