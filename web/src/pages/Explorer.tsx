// Explorer: find instruments, plot them over a range (DA, real-time, or both), as known now or at a past
// moment; long ranges are resampled by the server; download the view when the tenant has downloads.
import { useEffect, useMemo, useState } from "react";
import uPlot from "uplot";
import { api, downloadUrl } from "../api/client";
import type { Instrument, RawSeries, ResampledSeries, Resample, Ticks } from "../api/types";
import { Empty, ErrorBox, Loading } from "../components/States";
import { PALETTE, TimeChart, type ChartSeries } from "../components/TimeChart";
import { isoZ, price, zoneName } from "../format";
import { canDownload, entitledMarkets, marketInfo, realtimeRun } from "../markets";
import { useSession } from "../session";

const DAY = 86_400_000;
const RANGES: [string, number][] = [
  ["1D", 1],
  ["3D", 3],
  ["1W", 7],
  ["1M", 31],
  ["3M", 92],
  ["1Y", 365],
  ["5Y", 5 * 365],
];
type Mode = "DA" | "RT" | "DA+RT";
type ResampleChoice = "auto" | "raw" | Resample;

/** What the server should do with a span: raw intervals up to two weeks, hourly to 400 days, daily beyond. */
export function autoResample(days: number): Resample | null {
  if (days <= 14) return null;
  if (days <= 400) return "1h";
  return "1d";
}

function resampleFor(choice: ResampleChoice, days: number): Resample | null {
  if (choice === "auto") return autoResample(days);
  return choice === "raw" ? null : choice;
}

interface Plotted {
  series: ChartSeries[];
  data: uPlot.AlignedData;
  stats: { label: string; n: number; min: number | null; avg: number | null; max: number | null; last: number | null }[];
  resample: Resample | null;
}

function valuesOf(series: RawSeries | ResampledSeries): (number | null)[] {
  return "avg" in series ? series.avg : series.lmp;
}

function plotted(answers: Ticks[], resample: Resample | null): Plotted {
  const tables: uPlot.AlignedData[] = [];
  const series: ChartSeries[] = [];
  const stats: Plotted["stats"] = [];
  answers.forEach((answer) => {
    answer.series.forEach((s) => {
      const values = valuesOf(s);
      const label = `${s.instrument} ${answer.run}`;
      tables.push([s.t.map((t) => Date.parse(t) / 1000), values]);
      const color = PALETTE[series.length % PALETTE.length];
      series.push({ label, color, steps: answer.run === "DA" }); // day-ahead holds for the hour: a step
      const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
      stats.push({
        label,
        n: finite.length,
        min: finite.length ? Math.min(...finite) : null,
        avg: finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : null,
        max: finite.length ? Math.max(...finite) : null,
        last: finite.length ? finite[finite.length - 1] : null,
      });
    });
  });
  const data = tables.length ? uPlot.join(tables) : ([[]] as unknown as uPlot.AlignedData);
  return { series, data, stats, resample };
}

export default function Explorer() {
  const { me } = useSession();
  const markets = useMemo(() => entitledMarkets(me, "prices"), [me]);
  const [query, setQuery] = useState("");
  const [found, setFound] = useState<Instrument[] | null>(null);
  const [searchError, setSearchError] = useState<unknown>(null);
  const [selected, setSelected] = useState<Instrument[]>([]);
  const [mode, setMode] = useState<Mode>("DA+RT");
  const [days, setDays] = useState(3);
  const [endDate, setEndDate] = useState(() => isoZ(new Date(Date.now() + DAY)).slice(0, 10));
  const [asOf, setAsOf] = useState("");
  const [resampleChoice, setResampleChoice] = useState<ResampleChoice>("auto");
  const [result, setResult] = useState<Plotted | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);

  // search as you type, a quarter-second after the last key
  useEffect(() => {
    const abort = new AbortController();
    const timer = setTimeout(() => {
      api
        .instruments({ q: query.trim() || undefined, limit: 25 }, abort.signal)
        .then((page) => {
          setFound(page.items);
          setSearchError(null);
        })
        .catch((e) => !abort.signal.aborted && setSearchError(e));
    }, 250);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }, [query]);

  const end = useMemo(() => new Date(`${endDate}T00:00:00Z`), [endDate]);
  const start = useMemo(() => new Date(end.getTime() - days * DAY), [end, days]);
  const resample = resampleFor(resampleChoice, days);
  const asOfIso = asOf ? isoZ(new Date(`${asOf}:00Z`)) : null;
  const selectedMarkets = useMemo(() => [...new Set(selected.map((i) => i.market))].sort(), [selected]);
  const timezone = selectedMarkets.length === 1 ? marketInfo(selectedMarkets[0]).timezone : "UTC";

  const requests = useMemo(() => {
    const byMarket = new Map<string, string[]>();
    selected.forEach((i) => byMarket.set(i.market, [...(byMarket.get(i.market) ?? []), i.id]));
    const out: { run: string; instrument: string[] }[] = [];
    byMarket.forEach((ids, market) => {
      const rt = realtimeRun(market);
      const runs = mode === "DA" ? ["DA"] : mode === "RT" ? [rt] : ["DA", rt];
      runs.filter((r): r is string => !!r && marketInfo(market).runs.includes(r)).forEach((run) => out.push({ run, instrument: ids }));
    });
    return out;
  }, [selected, mode]);

  useEffect(() => {
    if (!requests.length || Number.isNaN(end.getTime())) {
      setResult(null);
      return;
    }
    const abort = new AbortController();
    setLoading(true);
    setError(null);
    Promise.all(
      requests.map((r) =>
        api.ticks({ ...r, start: isoZ(start), end: isoZ(end), as_of: asOfIso, resample }, abort.signal),
      ),
    )
      .then((answers) => setResult(plotted(answers, resample)))
      .catch((e) => !abort.signal.aborted && setError(e))
      .finally(() => !abort.signal.aborted && setLoading(false));
    return () => abort.abort();
  }, [requests, start, end, asOfIso, resample]);

  const add = (instrument: Instrument) =>
    setSelected((current) => (current.some((i) => i.id === instrument.id) || current.length >= 8 ? current : [...current, instrument]));
  const remove = (id: string) => setSelected((current) => current.filter((i) => i.id !== id));
  const unit = selected[0]?.unit ?? "USD/MWh";
  const downloads = canDownload(me, selectedMarkets) && days <= 366;
  const empty = result !== null && result.stats.every((s) => s.n === 0);

  return (
    <div className="explorer">
      <div className="toolbar">
        <h1>Explorer</h1>
        <span className="muted">markets: {markets.join(", ") || "none"}</span>
      </div>
      <div className="explorer-body">
        <aside className="search">
          <input
            type="search"
            placeholder="Search instruments (id or name)"
            aria-label="Search instruments"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
          />
          {searchError ? <ErrorBox error={searchError} /> : null}
          {found === null ? <Loading what="instruments" /> : null}
          {found !== null && found.length === 0 ? <Empty>No instrument matches “{query}”. Try part of a node or hub name.</Empty> : null}
          <ul className="results" aria-label="Instruments found">
            {(found ?? []).map((i) => (
              <li key={i.id}>
                <button type="button" className="link" onClick={() => add(i)} title={`add ${i.id}`} data-instrument={i.id}>
                  <span className="mono">{i.id}</span>
                  <span className="muted"> {i.type}</span>
                </button>
              </li>
            ))}
          </ul>
        </aside>
        <section className="plot">
          <div className="controls">
            <div className="chips" aria-label="Selected instruments">
              {selected.map((i) => (
                <span className="chip" key={i.id}>
                  {i.id}
                  <button type="button" aria-label={`remove ${i.id}`} onClick={() => remove(i.id)}>
                    ×
                  </button>
                </span>
              ))}
            </div>
            <label>
              Run
              <select value={mode} onChange={(e) => setMode(e.target.value as Mode)} aria-label="Run">
                <option value="DA+RT">DA vs RT</option>
                <option value="DA">DA</option>
                <option value="RT">RT</option>
              </select>
            </label>
            <div className="segmented" role="group" aria-label="Range">
              {RANGES.map(([label, d]) => (
                <button type="button" key={label} className={days === d ? "active" : ""} onClick={() => setDays(d)}>
                  {label}
                </button>
              ))}
            </div>
            <label>
              Ending (UTC)
              <input type="date" value={endDate} onChange={(e) => setEndDate(e.target.value)} />
            </label>
            <label>
              Resample
              <select value={resampleChoice} onChange={(e) => setResampleChoice(e.target.value as ResampleChoice)}>
                <option value="auto">auto ({autoResample(days) ?? "raw"})</option>
                <option value="raw">raw</option>
                <option value="1h">1h</option>
                <option value="1d">1d</option>
              </select>
            </label>
            <label title="what was known at this moment (UTC); empty: as known now">
              As of (UTC)
              <input type="datetime-local" value={asOf} onChange={(e) => setAsOf(e.target.value)} aria-label="As of" />
            </label>
            {downloads
              ? requests.map((r) => (
                  <span key={r.run} className="downloads">
                    {(["csv", "parquet"] as const).map((format) => (
                      <a
                        key={format}
                        className="button small"
                        href={downloadUrl({ ...r, start: isoZ(start), end: isoZ(end), as_of: asOfIso, format })}
                        download
                      >
                        {r.run} {format.toUpperCase()}
                      </a>
                    ))}
                  </span>
                ))
              : null}
          </div>
          {!selected.length ? (
            <Empty>Search for an instrument on the left and click it to plot it. Add up to 8 to compare them.</Empty>
          ) : error ? (
            <ErrorBox error={error} />
          ) : result === null ? (
            <Loading what="prices" />
          ) : empty ? (
            <Empty>
              No prices for this selection between {isoZ(start).slice(0, 10)} and {isoZ(end).slice(0, 10)}
              {asOfIso ? ` as known at ${asOfIso}` : ""}. Move the range or clear the as-of time.
            </Empty>
          ) : (
            <>
              <div className="chart-note muted">
                {unit} · times in {timezone} ({zoneName(timezone)}) ·{" "}
                {result.resample ? `server-resampled to ${result.resample} averages` : "raw intervals"}
                {asOfIso ? ` · as known at ${asOfIso}` : ""} · drag to zoom, double-click to reset
                {loading ? " · updating…" : ""}
              </div>
              <TimeChart data={result.data} series={result.series} timezone={timezone} yLabel={unit} testId="explorer-chart" />
              <table className="grid compact">
                <thead>
                  <tr>
                    <th className="left">Series</th>
                    <th>Points</th>
                    <th>Min</th>
                    <th>Avg</th>
                    <th>Max</th>
                    <th>Last</th>
                  </tr>
                </thead>
                <tbody>
                  {result.stats.map((s) => (
                    <tr key={s.label}>
                      <td className="left mono">{s.label}</td>
                      <td className="num">{s.n}</td>
                      <td className="num">{price(s.min)}</td>
                      <td className="num">{price(s.avg)}</td>
                      <td className="num">{price(s.max)}</td>
                      <td className="num">{price(s.last)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </section>
      </div>
    </div>
  );
}
