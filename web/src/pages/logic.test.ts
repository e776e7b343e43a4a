// The pure parts of the pages: live updates on the dashboard, curve segments and hourly shapes.
import { describe, expect, it } from "vitest";
import type { ForwardCurve, Instrument } from "../api/types";
import { calendarStrips, hourlyShape, quoteLevels, splitSegments } from "./Curves";
import { applyLive, daFor, type Point, type Row } from "./Dashboard";
import { autoResample } from "./Explorer";

const HUB: Instrument = {
  id: "MISO:INDIANA.HUB",
  market: "MISO",
  location: "INDIANA.HUB",
  name: "MISO Indiana Hub",
  type: "hub",
  timezone: "Etc/GMT+5",
  currency: "USD",
  unit: "USD/MWh",
};

function point(start: string, lmp: number, minutes = 5): Point {
  return { t: Date.parse(start), start, minutes, lmp, congestion: 0 };
}

const row: Row = {
  instrument: HUB,
  rt: point("2026-11-22T08:00:00Z", 30),
  da: [point("2026-11-22T07:00:00Z", 28, 60), point("2026-11-22T08:00:00Z", 29, 60)],
  spark: [point("2026-11-22T07:55:00Z", 31), point("2026-11-22T08:00:00Z", 30)],
  flashAt: 0,
};

function live(start: string, lmp: number, instrument = HUB.id) {
  return { instrument, interval_start: start, interval_minutes: 5, lmp, energy: lmp, congestion: 1, loss: 0 };
}

describe("dashboard live updates", () => {
  it("takes a newer real-time interval, extends the sparkline and flashes", () => {
    const [next] = applyLive([row], "RT5", "RT5", [live("2026-11-22T08:05:00Z", 99)], 1000);
    expect(next.rt?.lmp).toBe(99);
    expect(next.spark.map((p) => p.lmp)).toEqual([31, 30, 99]);
    expect(next.flashAt).toBe(1000);
  });

  it("ignores older intervals, other runs and other instruments", () => {
    const rows = [row];
    expect(applyLive(rows, "RT5", "RT5", [live("2026-11-22T07:00:00Z", 1)], 1)).toBe(rows);
    expect(applyLive(rows, "RT15", "RT5", [live("2026-11-22T08:05:00Z", 1)], 1)).toBe(rows);
    expect(applyLive(rows, "RT5", "RT5", [live("2026-11-22T08:05:00Z", 1, "MISO:OTHER")], 1)).toBe(rows);
  });

  it("pairs the real-time interval with the day-ahead hour holding it", () => {
    expect(daFor(row.da, Date.parse("2026-11-22T08:35:00Z"))).toEqual({ point: row.da[1], sameHour: true });
    expect(daFor(row.da, Date.parse("2026-11-22T12:00:00Z"))).toEqual({ point: row.da[1], sameHour: false });
    expect(daFor([], null)).toEqual({ point: null, sameHour: false });
  });
});

const curve: ForwardCurve = {
  curve: "MISO:INDIANA.HUB:ATC",
  as_of_date: "2026-11-20",
  scenario: "BASE",
  granularity: "M",
  run_id: "r",
  traded_until: "2027-02-01",
  points: {
    delivery_start: ["2026-12-01T05:00:00Z", "2027-01-01T05:00:00Z", "2027-02-01T05:00:00Z", "2027-03-01T05:00:00Z"],
    delivery_end: ["2027-01-01T05:00:00Z", "2027-02-01T05:00:00Z", "2027-03-01T05:00:00Z", "2027-04-01T04:00:00Z"],
    value: [40, 42, 44, 46],
    modelled: [false, false, true, true],
  },
};

describe("curves", () => {
  it("draws each quote as built over its delivery, the shortest one where quotes overlap", () => {
    const quote = (contract: string, start: string, end: string, price: number, used = price) => ({
      contract, product: "ATC", start, end, price, bid: null, ask: null, used, adjusted: used !== price, source: "q.csv",
    });
    const quoted: ForwardCurve = {
      ...curve,
      quotes: [
        quote("Q1-27", "2027-01-01", "2027-04-01", 43),
        quote("Jan27", "2027-01-01", "2027-02-01", 41, 41.5),
      ],
    };
    // December is unquoted; January is the month's own quote (as reconciled); Feb and Mar the quarter's
    expect(quoteLevels(quoted, "Etc/GMT+5")).toEqual([null, 41.5, 43, 43]);
    expect(quoteLevels(curve, "Etc/GMT+5")).toEqual([null, null, null, null]);
  });

  it("splits traded and modelled segments, joined at the boundary", () => {
    expect(splitSegments(curve)).toEqual({ traded: [40, 42, null, null], modelled: [null, 42, 44, 46] });
  });

  it("averages calendar years on the market's clock", () => {
    expect(calendarStrips(curve, "Etc/GMT+5")).toEqual([
      { year: "2026", avg: 40, months: 1, modelled: false },
      { year: "2027", avg: 44, months: 3, modelled: true },
    ]);
  });

  it("derives hour factors averaging one from day-ahead history", () => {
    const t = Array.from({ length: 48 }, (_, h) => new Date(Date.UTC(2026, 10, 20, 5 + h)).toISOString());
    const lmp = t.map((_, h) => (h % 24 < 12 ? 20 : 40)); // local hours 0-11 at 20, 12-23 at 40
    const factors = hourlyShape({ instrument: "x", market: "MISO", location: "x", interval_minutes: 60, t, lmp, energy: [], congestion: [], loss: [] }, "Etc/GMT+5");
    expect(factors[0]).toBeCloseTo(20 / 30);
    expect(factors[23]).toBeCloseTo(40 / 30);
  });
});

describe("explorer", () => {
  it("has the server resample long ranges", () => {
    expect(autoResample(3)).toBeNull();
    expect(autoResample(92)).toBe("1h");
    expect(autoResample(5 * 365)).toBe("1d");
  });
});
