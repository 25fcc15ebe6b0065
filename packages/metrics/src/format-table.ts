// format-table.ts — renders a metrics report as a plain-text table for terminals.
import type { MetricsReport } from './finalize.ts';

export function formatMetricsTable(report: MetricsReport): string {
  return JSON.stringify(report.task);
}
