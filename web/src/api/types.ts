// Shapes of the gateway's JSON (src/marketintel/{auth,store,curves,quality}/api.py).

export interface Grant {
  market: string;
  product: string;
  channel: string;
}

export interface Me {
  subject: string;
  tenant: string;
  role: string;
  channel: string;
  credential: string;
  entitlements: Grant[];
  channels: string[];
}

export type LocationType = "hub" | "zone" | "node" | "interface";

export interface Instrument {
  id: string;
  market: string;
  location: string;
  name: string | null;
  type: LocationType;
  timezone: string;
  currency: string;
  unit: string;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
  next_offset: number | null;
}

export interface LatestItem {
  instrument: string;
  location: string;
  interval_start: string;
  interval_minutes: number;
  lmp: number | null;
  energy: number | null;
  congestion: number | null;
  loss: number | null;
  knowledge_time: string;
}

export interface Latest {
  market: string;
  run: string;
  items: LatestItem[];
}

export interface RawSeries {
  instrument: string;
  market: string;
  location: string;
  interval_minutes: number | null;
  t: string[];
  lmp: (number | null)[];
  energy: (number | null)[];
  congestion: (number | null)[];
  loss: (number | null)[];
}

export interface ResampledSeries {
  instrument: string;
  market: string;
  location: string;
  t: string[];
  avg: (number | null)[];
  min: (number | null)[];
  max: (number | null)[];
  intervals: number[];
}

export type Resample = "1h" | "1d";

export interface Ticks {
  run: string;
  start: string;
  end: string;
  as_of: string | null;
  resample: Resample | null;
  series: (RawSeries | ResampledSeries)[];
}

export interface CurveQuote {
  contract: string;
  product: string;
  start: string; // market-local delivery dates, end exclusive
  end: string;
  price: number;
  bid: number | null;
  ask: number | null;
  used: number; // the price the curve was built at (reconciliation may move a quote, never silently)
  adjusted: boolean;
  source: string;
}

export interface ForwardCurve {
  curve: string;
  as_of_date: string;
  scenario: string;
  granularity: "M" | "D";
  run_id: string;
  traded_until: string | null;
  /** the contracts of this block the run was built from (empty for a nodal curve: the hub's quotes) */
  quotes?: CurveQuote[];
  points: {
    delivery_start: string[];
    delivery_end: string[];
    value: number[];
    modelled: boolean[];
  };
}

export interface Measured {
  value: number | null;
  limit: number | null;
  passed: boolean;
  gate: boolean;
}

export interface RecordedCheck {
  check: string;
  scope: string;
  value: number | null;
  threshold: number | null;
  passed: boolean;
  gate: boolean;
  checked_at: string;
}

export type SourceStatus = "live" | "late" | "stale" | "no-data";

export interface QualitySource {
  source: string;
  market: string;
  run: string;
  timezone: string;
  status: SourceStatus;
  stale: boolean;
  newest_interval_end: string | null;
  interval_minutes: number | null;
  last_new_interval_at: string | null;
  freshness: Measured;
  staleness: Measured;
  checks: RecordedCheck[];
}

export interface Quality {
  checked_at: string;
  markets: string[];
  sources: QualitySource[];
}

export interface ApiKey {
  prefix: string;
  name: string;
  role: string;
  user: string | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface NewKey {
  prefix: string;
  secret: string;
  name: string;
  role: string;
}

export interface StreamRow {
  instrument: string;
  interval_start: string;
  interval_minutes: number;
  lmp: number | null;
  energy: number | null;
  congestion: number | null;
  loss: number | null;
}

export type StreamMessage =
  | { type: "subscribed"; markets: string[]; instruments: string[]; runs: string[] }
  | { type: "error"; status: number; detail: string; market?: string }
  | { type: "prices"; market: string; run: string; rows: StreamRow[] }
  | { type: "heartbeat"; t: string };
