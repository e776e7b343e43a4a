// A source's freshness at a glance: "live", "late 12m", "stale 3h", "no data"; the title says why.
import type { QualitySource } from "../api/types";
import { duration, localTime } from "../format";

export function freshnessLabel(source: QualitySource): string {
  const age = source.freshness.value;
  switch (source.status) {
    case "live":
      return "live";
    case "no-data":
      return "no data";
    case "late":
      // how far past what its gate allows (day-ahead's limit is negative: tomorrow should be out)
      return `late ${duration(age !== null && source.freshness.limit !== null ? age - source.freshness.limit : age)}`;
    default:
      // day-ahead ends in the future while fresh; a stale feed is as old as its last news
      return `stale ${duration(age !== null && age > 0 ? age : source.staleness.value)}`;
  }
}

export function FreshnessBadge({ source }: { source: QualitySource }) {
  const title = [
    `${source.source} ${source.market} ${source.run}`,
    `newest interval ends ${localTime(source.newest_interval_end, source.timezone)}`,
    `last new interval learned ${localTime(source.last_new_interval_at, source.timezone)}`,
  ].join("\n");
  return (
    <span className={`badge ${source.status}`} title={title} data-run={source.run}>
      {source.run} {freshnessLabel(source)}
    </span>
  );
}

/** The recorded checks of a source: ok, N failed (gates first), or none recorded yet. */
export function QualityBadge({ source }: { source: QualitySource }) {
  if (source.checks.length === 0) {
    return (
      <span className="badge muted" title="no quality checks recorded in the last 7 days">
        {source.run} checks: none
      </span>
    );
  }
  const failed = source.checks.filter((c) => !c.passed);
  const gates = failed.filter((c) => c.gate);
  const title = source.checks
    .map((c) => `${c.passed ? "ok" : c.gate ? "FAILED" : "flagged"} ${c.check} = ${c.value ?? "—"} (${c.scope})`)
    .join("\n");
  const kind = gates.length ? "stale" : failed.length ? "late" : "live";
  const text = failed.length ? `${failed.length} failed` : "ok";
  return (
    <span className={`badge ${kind}`} title={title}>
      {source.run} checks: {text}
    </span>
  );
}
