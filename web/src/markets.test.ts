import { describe, expect, it } from "vitest";
import { PILOT_CAISO, PILOT_MISO } from "./fixtures";
import { canDownload, entitledMarkets, hasApiChannel, realtimeRun } from "./markets";

describe("entitlements shape the hub", () => {
  it("lists only the markets granted on the hub channel", () => {
    expect(entitledMarkets(PILOT_MISO, "prices")).toEqual(["MISO"]);
    expect(entitledMarkets(PILOT_CAISO, "prices")).toEqual(["CAISO"]);
    expect(entitledMarkets(PILOT_CAISO, "prices", "api")).toEqual([]);
  });

  it("offers API keys only to a tenant with the api channel", () => {
    expect(hasApiChannel(PILOT_MISO)).toBe(true);
    expect(hasApiChannel(PILOT_CAISO)).toBe(false);
  });

  it("offers downloads only when every market in view is granted on the downloads channel", () => {
    expect(canDownload(PILOT_MISO, ["MISO"])).toBe(true);
    expect(canDownload(PILOT_MISO, ["MISO", "CAISO"])).toBe(false);
    expect(canDownload(PILOT_MISO, [])).toBe(false);
    expect(canDownload({ ...PILOT_MISO, channels: ["hub", "api"] }, ["MISO"])).toBe(false);
  });

  it("picks each market's finest real-time run", () => {
    expect(realtimeRun("MISO")).toBe("RT5");
    expect(realtimeRun("ERCOT")).toBe("RT15");
    expect(realtimeRun("ENTSOE")).toBeNull();
  });
});
