// Per entitled market: hubs and zones with the real-time price, the day-ahead price of the same hour,
// their spread and a 12-hour sparkline; updated live over the WebSocket; freshness and quality badges.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api } from "../api/client";
import { PriceStream, type StreamState } from "../api/stream";
import type { Instrument, LatestItem, Quality, RawSeries, StreamMessage, StreamRow } from "../api/types";
import { FreshnessBadge, QualityBadge } from "../components/FreshnessBadge";
import { Sparkline } from "../components/Sparkline";
import { Empty, ErrorBox, Loading } from "../components/States";
import { isoZ, localTime, price, signed, zoneName } from "../format";
import { entitledMarkets, marketInfo, realtimeRun } from "../markets";
import { useSession } from "../session";

const HOUR = 3600_000;
const SPARK_HOURS = 12;
const MAX_ROWS = 50; // the ticks endpoint's limit of instruments per request

export interface Point {
  t: number; // ms since the epoch
  start: string;
  minutes: number;
  lmp: number | null;
  congestion: number | null;
}

export interface Row {
  instrument: Instrument;
  rt: Point | null;
  da: Point[]; // hourly day-ahead around now, ascending
  spark: Point[]; // real-time, ascending
  flashAt: number; // when the real-time price last changed live
}

function pointsOf(series: RawSeries): Point[] {
  return series.t.map((start, i) => ({
    t: Date.parse(start),
    start,
    minutes: series.interval_minutes ?? 60,
    lmp: series.lmp[i],
    congestion: series.congestion[i],
  }));
}

function latestPoint(item: LatestItem): Point {
  return {
    t: Date.parse(item.interval_start),
    start: item.interval_start,
    minutes: item.interval_minutes,
    lmp: item.lmp,
    congestion: item.congestion,
  };
}

/** The day-ahead interval holding instant `t`, else the newest one (its hour is shown beside it). */
export function daFor(da: Point[], t: number | null): { point: Point | null; sameHour: boolean } {
  if (t !== null) {
    const hit = da.find((p) => p.t <= t && t < p.t + p.minutes * 60_000);
    if (hit) return { point: hit, sameHour: true };
  }
  return { point: da.length ? da[da.length - 1] : null, sameHour: false };
}

/** A live row applied to the table: a newer real-time interval replaces the shown one and extends the line. */
export function applyLive(rows: Row[], run: string, rtRun: string | null, incoming: StreamRow[], now: number): Row[] {
  const byId = new Map(incoming.map((r) => [r.instrument, r]));
  let changed = false;
  const next = rows.map((row) => {
    const live = byId.get(row.instrument.id);
    if (!live) return row;
    const point: Point = {
      t: Date.parse(live.interval_start),
      start: live.interval_start,
      minutes: live.interval_minutes,
      lmp: live.lmp,
      congestion: live.congestion,
    };
    if (run === "DA") {
      changed = true;
      const da = row.da.filter((p) => p.t !== point.t).concat(point).sort((a, b) => a.t - b.t);
      return { ...row, da };
    }
    if (run !== rtRun || (row.rt && point.t < row.rt.t)) return row;
    changed = true;
    const spark = row.spark.filter((p) => p.t !== point.t).concat(point).sort((a, b) => a.t - b.t);
    const cutoff = point.t - SPARK_HOURS * HOUR;
    return { ...row, rt: point, spark: spark.filter((p) => p.t >= cutoff), flashAt: now };
  });
  return changed ? next : rows;
}

type Listener = (message: Extract<StreamMessage, { type: "prices" }>) => void;

function MarketPanel({
  market,
  quality,
  listen,
  onSettled,
}: {
  market: string;
  quality: Quality | null;
  listen: (market: string, listener: Listener) => () => void;
  onSettled: (market: string) => void;
}) {
  const info = marketInfo(market);
  const rtRun = realtimeRun(market);
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const abort = new AbortController();
    const signal = abort.signal;
    setError(null);
    (async () => {
      const [hubs, zones] = await Promise.all([
        api.instruments({ market, type: "hub", limit: MAX_ROWS }, signal),
        api.instruments({ market, type: "zone", limit: MAX_ROWS }, signal),
      ]);
      const instruments = [...hubs.items, ...zones.items].slice(0, MAX_ROWS);
      if (!instruments.length) return [];
      const ids = instruments.map((i) => i.id);
      const now = Date.now();
      const types = [...new Set(instruments.map((i) => i.type))];
      const [latest, rtTicks, daTicks] = await Promise.all([
        rtRun ? Promise.all(types.map((t) => api.latest(market, rtRun, t, signal))) : Promise.resolve([]),
        rtRun
          ? api.ticks(
              { instrument: ids, run: rtRun, start: isoZ(new Date(now - SPARK_HOURS * HOUR)), end: isoZ(new Date(now + HOUR)) },
              signal,
            )
          : Promise.resolve(null),
        info.runs.includes("DA")
          ? api.ticks({ instrument: ids, run: "DA", start: isoZ(new Date(now - 36 * HOUR)), end: isoZ(new Date(now + 36 * HOUR)) }, signal)
          : Promise.resolve(null),
      ]);
      const latestById = new Map(latest.flatMap((l) => l.items).map((item) => [item.instrument, item]));
      const rtById = new Map((rtTicks?.series ?? []).map((s) => [s.instrument, pointsOf(s as RawSeries)]));
      const daById = new Map((daTicks?.series ?? []).map((s) => [s.instrument, pointsOf(s as RawSeries)]));
      return instruments.map((instrument) => {
        const item = latestById.get(instrument.id);
        return {
          instrument,
          rt: item ? latestPoint(item) : null,
          da: daById.get(instrument.id) ?? [],
          spark: rtById.get(instrument.id) ?? [],
          flashAt: 0,
        };
      });
    })()
      .then((found) => {
        if (signal.aborted) return;
        setRows(found);
        onSettled(market);
      })
      .catch((failure) => {
        if (signal.aborted) return;
        setError(failure);
        onSettled(market);
      });
    return () => abort.abort();
  }, [market, rtRun, info.runs, attempt, onSettled]);

  useEffect(
    () =>
      listen(market, (message) => {
        setRows((current) => (current ? applyLive(current, message.run, rtRun, message.rows, Date.now()) : current));
      }),
    [listen, market, rtRun],
  );

  const sources = (quality?.sources ?? []).filter((s) => s.market === market);
  const unit = rows?.[0]?.instrument.unit ?? `${info.currency}/MWh`;
  const zone = zoneName(info.timezone);

  return (
    <section className="panel" data-market={market} aria-label={`${market} prices`}>
      <header className="panel-head">
        <h2>
          {market} <span className="muted">{info.name}</span>
        </h2>
        <div className="badges">
          {quality === null ? <span className="badge muted">freshness…</span> : null}
          {quality !== null && sources.length === 0 ? <span className="badge no-data">no sources</span> : null}
          {sources.map((s) => (
            <FreshnessBadge key={`${s.source}-${s.run}`} source={s} />
          ))}
          {sources.map((s) => (
            <QualityBadge key={`q-${s.source}-${s.run}`} source={s} />
          ))}
        </div>
      </header>
      {error ? (
        <ErrorBox error={error} retry={() => setAttempt((n) => n + 1)} />
      ) : rows === null ? (
        <Loading what={`${market} prices`} />
      ) : rows.length === 0 ? (
        <Empty>
          No hubs or zones in {market} yet. Prices appear here once {market} data is ingested (try{" "}
          <code>make demo</code>).
        </Empty>
      ) : (
        <table className="grid">
          <thead>
            <tr>
              <th className="left">Location</th>
              <th className="left">Type</th>
              <th>{rtRun ?? "RT"} LMP</th>
              <th>Interval ({zone})</th>
              <th>DA LMP</th>
              <th>DA hour ({zone})</th>
              <th>RT − DA</th>
              <th>Congestion</th>
              <th className="left">{rtRun ?? "RT"} {SPARK_HOURS}h</th>
            </tr>
            <tr className="units">
              <th colSpan={2} />
              <th>{unit}</th>
              <th />
              <th>{unit}</th>
              <th />
              <th>{unit}</th>
              <th>{unit}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <PriceRow key={row.instrument.id} row={row} timezone={info.timezone} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function PriceRow({ row, timezone }: { row: Row; timezone: string }) {
  const { point: da, sameHour } = daFor(row.da, row.rt?.t ?? Date.now());
  const spread = row.rt?.lmp != null && da?.lmp != null && sameHour ? row.rt.lmp - da.lmp : null;
  const xs = useMemo(() => row.spark.map((p) => p.t / 1000), [row.spark]);
  const ys = useMemo(() => row.spark.map((p) => p.lmp), [row.spark]);
  const flashing = row.flashAt > 0 && Date.now() - row.flashAt < 2000;
  return (
    <tr data-instrument={row.instrument.id}>
      <td className="left" title={row.instrument.id}>
        {row.instrument.name ?? row.instrument.location}
      </td>
      <td className="left muted">{row.instrument.type}</td>
      <td className={`num strong${flashing ? " flash" : ""}`} data-col="rt">
        {price(row.rt?.lmp)}
      </td>
      <td className="num muted">{row.rt ? localTime(row.rt.start, timezone) : "—"}</td>
      <td className="num" data-col="da">
        {price(da?.lmp)}
      </td>
      <td className={`num ${sameHour ? "muted" : "warn"}`} title={sameHour ? "" : "no day-ahead price for the real-time hour: the newest one is shown"}>
        {da ? localTime(da.start, timezone) : "—"}
      </td>
      <td className={`num ${spread == null ? "" : spread >= 0 ? "up" : "down"}`}>{signed(spread)}</td>
      <td className="num">{price(row.rt?.congestion)}</td>
      <td className="left">{row.spark.length > 1 ? <Sparkline xs={xs} ys={ys} /> : <span className="muted">no data</span>}</td>
    </tr>
  );
}

let markedInteractive = false;

export function Dashboard() {
  const { me } = useSession();
  const markets = useMemo(() => entitledMarkets(me, "prices"), [me]);
  const [quality, setQuality] = useState<Quality | null>(null);
  const [qualityError, setQualityError] = useState<unknown>(null);
  const [settled, setSettled] = useState<Set<string>>(new Set());
  const [streamState, setStreamState] = useState<StreamState>("connecting");
  const [streamError, setStreamError] = useState<string | null>(null);
  const listeners = useRef(new Map<string, Set<Listener>>());

  const onSettled = useCallback((market: string) => {
    setSettled((done) => (done.has(market) ? done : new Set(done).add(market)));
  }, []);

  const listen = useCallback((market: string, listener: Listener) => {
    const set = listeners.current.get(market) ?? new Set<Listener>();
    set.add(listener);
    listeners.current.set(market, set);
    return () => set.delete(listener);
  }, []);

  // freshness moves with the clock: re-read it every minute
  useEffect(() => {
    const abort = new AbortController();
    const read = () =>
      api
        .quality(abort.signal)
        .then((q) => {
          setQuality(q);
          setQualityError(null);
        })
        .catch((error) => {
          if (!abort.signal.aborted) setQualityError(error);
        });
    read();
    const timer = setInterval(read, 60_000);
    return () => {
      abort.abort();
      clearInterval(timer);
    };
  }, []);

  useEffect(() => {
    if (!markets.length) return;
    const stream = new PriceStream(
      { markets },
      (message) => {
        if (message.type === "prices") listeners.current.get(message.market)?.forEach((f) => f(message));
        else if (message.type === "error") setStreamError(message.detail);
        else if (message.type === "subscribed") {
          setStreamError(null);
          performance.mark("dashboard-live");
          document.documentElement.dataset.stream = "subscribed";
        }
      },
      setStreamState,
    );
    return () => stream.close();
  }, [markets]);

  // interactive: every market's table rendered (or its error shown) with handlers attached
  useEffect(() => {
    if (!markedInteractive && markets.length && settled.size === markets.length) {
      markedInteractive = true;
      performance.mark("dashboard-interactive");
      document.documentElement.dataset.dashboard = "ready";
    }
  }, [settled, markets]);

  if (!markets.length) {
    return (
      <Empty>
        Your organisation ({me.tenant}) has no market entitled on the hub. Ask your administrator to grant one.
      </Empty>
    );
  }
  return (
    <div className="dashboard">
      <div className="toolbar">
        <h1>Dashboard</h1>
        <span className={`badge ${streamState === "open" ? "live" : streamState === "connecting" ? "late" : "stale"}`} data-testid="stream-state">
          {streamState === "open" ? "● streaming" : streamState === "connecting" ? "connecting…" : "disconnected, retrying"}
        </span>
        {streamError ? <span className="warn">stream: {streamError}</span> : null}
        {qualityError ? <ErrorBox error={qualityError} /> : null}
      </div>
      {markets.map((market) => (
        <MarketPanel key={market} market={market} quality={quality} listen={listen} onSettled={onSettled} />
      ))}
    </div>
  );
}
