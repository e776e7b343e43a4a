import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { QualitySource } from "../api/types";
import { FreshnessBadge, QualityBadge, freshnessLabel } from "./FreshnessBadge";

function source(overrides: Partial<QualitySource>): QualitySource {
  return {
    source: "caiso-oasis",
    market: "CAISO",
    run: "RT5",
    timezone: "America/Los_Angeles",
    status: "live",
    stale: false,
    newest_interval_end: "2026-11-22T08:00:00Z",
    interval_minutes: 5,
    last_new_interval_at: "2026-11-22T08:01:00Z",
    freshness: { value: 120, limit: 300, passed: true, gate: true },
    staleness: { value: 60, limit: 900, passed: true, gate: true },
    checks: [],
    ...overrides,
  };
}

describe("FreshnessBadge", () => {
  it("says live, late by how much past the gate, stale by the age", () => {
    expect(freshnessLabel(source({}))).toBe("live");
    expect(freshnessLabel(source({ status: "late", freshness: { value: 900, limit: 300, passed: false, gate: true } }))).toBe("late 10m");
    expect(freshnessLabel(source({ status: "stale", freshness: { value: 3 * 3600 + 60, limit: 300, passed: false, gate: true } }))).toBe(
      "stale 3h 1m",
    );
    expect(freshnessLabel(source({ status: "no-data" }))).toBe("no data");
  });

  it("renders the run and the class that colours it", () => {
    render(<FreshnessBadge source={source({ status: "stale", freshness: { value: 7200, limit: 300, passed: false, gate: true } })} />);
    const badge = screen.getByText("RT5 stale 2h");
    expect(badge.className).toContain("stale");
    expect(badge.getAttribute("title")).toContain("newest interval ends Nov 22, 00:00 PST");
  });

  it("counts failed recorded checks", () => {
    const failed = source({
      checks: [
        { check: "gaps", scope: "file:x", value: 3, threshold: 0, passed: false, gate: false, checked_at: "2026-11-22T08:00:00Z" },
        { check: "duplicates", scope: "file:x", value: 0, threshold: 0, passed: true, gate: true, checked_at: "2026-11-22T08:00:00Z" },
      ],
    });
    render(<QualityBadge source={failed} />);
    expect(screen.getByText("RT5 checks: 1 failed").className).toContain("late");
  });
});
