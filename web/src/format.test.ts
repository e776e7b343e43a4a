import { describe, expect, it } from "vitest";
import { duration, localTime, price, signed, zoneName } from "./format";

describe("format", () => {
  it("prints prices with two decimals and a dash for nothing", () => {
    expect(price(1234.5)).toBe("1,234.50");
    expect(price(null)).toBe("—");
    expect(signed(1.5)).toBe("+1.50");
    expect(signed(-0.25)).toBe("-0.25");
  });

  it("prints durations in their two coarsest units", () => {
    expect(duration(3 * 3600 + 21 * 60 + 5)).toBe("3h 21m");
    expect(duration(86400 + 7200)).toBe("1d 2h");
    expect(duration(42)).toBe("42s");
    expect(duration(-600)).toBe("-10m");
    expect(duration(null)).toBe("no data");
  });

  it("shows instants on the market's clock with the zone named", () => {
    expect(localTime("2026-11-22T05:00:00Z", "Etc/GMT+5")).toBe("Nov 22, 00:00 GMT-5");
    expect(localTime("2026-07-01T19:00:00Z", "America/Los_Angeles", false)).toBe("12:00 PDT");
    expect(zoneName("America/Los_Angeles", new Date("2026-01-15T00:00:00Z"))).toBe("PST");
  });
});
