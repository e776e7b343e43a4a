// What the hub needs of each market (mirrors src/marketintel/catalog/markets.py): its clock and runs.
import type { Me } from "./api/types";

export interface MarketInfo {
  code: string;
  name: string;
  timezone: string;
  currency: string;
  runs: string[];
}

const list: MarketInfo[] = [
  { code: "MISO", name: "Midcontinent ISO", timezone: "Etc/GMT+5", currency: "USD", runs: ["DA", "RT", "RT5"] },
  { code: "CAISO", name: "California ISO", timezone: "America/Los_Angeles", currency: "USD", runs: ["DA", "RT5", "RT15"] },
  { code: "PJM", name: "PJM Interconnection", timezone: "America/New_York", currency: "USD", runs: ["DA", "RT", "RT5"] },
  { code: "ERCOT", name: "ERCOT", timezone: "America/Chicago", currency: "USD", runs: ["DA", "RT15"] },
  { code: "NYISO", name: "New York ISO", timezone: "America/New_York", currency: "USD", runs: ["DA", "RT", "RT5"] },
  { code: "SPP", name: "Southwest Power Pool", timezone: "America/Chicago", currency: "USD", runs: ["DA", "RT5"] },
  { code: "ISONE", name: "ISO New England", timezone: "America/New_York", currency: "USD", runs: ["DA", "RT", "RT5"] },
  { code: "ENTSOE", name: "ENTSO-E bidding zones", timezone: "Europe/Brussels", currency: "EUR", runs: ["DA"] },
  { code: "NORDPOOL", name: "Nord Pool", timezone: "Europe/Oslo", currency: "EUR", runs: ["DA"] },
  { code: "AEMO", name: "Australian NEM", timezone: "Australia/Brisbane", currency: "AUD", runs: ["RT5"] },
  { code: "JEPX", name: "JEPX", timezone: "Asia/Tokyo", currency: "JPY", runs: ["DA", "ID"] },
];

// each market's reference hub: where the curves page opens (the demo builds curves for these)
export const REFERENCE_HUB: Record<string, string> = {
  MISO: "INDIANA.HUB",
  CAISO: "TH_NP15_GEN-APND",
  PJM: "WESTERN HUB",
  ERCOT: "HB_NORTH",
  NYISO: "N.Y.C.",
  SPP: "SPPNORTH_HUB",
  ISONE: ".H.INTERNAL_HUB",
};

export const MARKETS: Record<string, MarketInfo> = Object.fromEntries(list.map((m) => [m.code, m]));

export function marketInfo(code: string): MarketInfo {
  return MARKETS[code] ?? { code, name: code, timezone: "UTC", currency: "", runs: ["DA"] };
}

/** The real-time run the dashboard shows: the finest the market publishes. */
export function realtimeRun(code: string): string | null {
  const runs = marketInfo(code).runs;
  return ["RT5", "RT15", "RT"].find((r) => runs.includes(r)) ?? null;
}

/** Markets the tenant may see `product` of through `channel` (the hub session is the hub channel). */
export function entitledMarkets(me: Me, product: string, channel = "hub"): string[] {
  const found = new Set(
    me.entitlements.filter((g) => g.product === product && g.channel === channel).map((g) => g.market),
  );
  return [...found].sort();
}

/** Downloads are their own channel: the button shows only when every market in view is granted on it. */
export function canDownload(me: Me, markets: string[]): boolean {
  if (!me.channels.includes("downloads") || markets.length === 0) return false;
  const granted = new Set(entitledMarkets(me, "prices", "downloads"));
  return markets.every((m) => granted.has(m));
}

export function hasApiChannel(me: Me): boolean {
  return me.channels.includes("api");
}
