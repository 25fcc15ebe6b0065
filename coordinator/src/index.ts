// @fedval/coordinator — the coordinator server, its configuration and its coded errors.
export { createCoordinator } from './server.ts';
export type { Coordinator, CoordinatorOptions } from './server.ts';
export { loadCoordinatorConfig, parseCoordinatorConfig, DEFAULT_CONFIG, DEFAULT_LIMITS } from './config.ts';
export type { CoordinatorConfig, CoordinatorLimits, ConfigOverrides } from './config.ts';
export { CoordinatorError, COORD_ERRORS } from './errors.ts';
export { runCoordinatorChecks, formatCoordinatorCheckLines } from './coordinator-check.ts';
export type { CoordinatorCheckLine } from './coordinator-check.ts';
export type { CoordinatorErrorCode } from './errors.ts';
export { hashToken } from './site-auth.ts';
export { ROLES } from './access-control.ts';
export type { Role } from './access-control.ts';
export { AUDIT_FILE } from './coordinator-audit.ts';
export { SITE_SOCKET_PATH } from './site-hub.ts';
export { OPENAPI_PATH, DOCS_PREFIX } from './openapi.ts';
export { WS_CLOSE_CODES } from './site-connections.ts';
export { ROUND_FAILURE_REASONS } from './rounds.ts';
export type { CoordinatorStore } from './storage/store.ts';
export { METRICS_PATH } from './routes/metrics.ts';
