// Forward curves to 2050: the traded segment and the modelled one told apart, two as-of dates compared,
// calendar strips, and an hourly view of a chosen month.
import { useEffect, useMemo, useState } from "react";
import uPlot from "uplot";
import { api, ApiError } from "../api/client";
import type { CurveQuote, ForwardCurve, Instrument, RawSeries } from "../api/types";
import { Empty, ErrorBox, Loading } from "../components/States";
import { TimeChart, type ChartSeries } from "../components/TimeChart";
import { isoZ, localDate, price } from "../format";
import { entitledMarkets, marketInfo, REFERENCE_HUB } from "../markets";
import { useSession } from "../session";

const BLOCKS = ["ATC", "PEAK", "OFFPEAK"];

/** For each curve point, the price (as built) of the shortest quote whose delivery covers it, null where
 * none does: drawn as steps, each quote reads as a level over its delivery span. The point's local date is
 * taken at its middle, so the clock the points were cut on does not matter. */
export function quoteLevels(curve: ForwardCurve, timezone: string): (number | null)[] {
  const quotes = curve.quotes ?? [];
  return curve.points.delivery_start.map((start, i) => {
    const middle = (Date.parse(start) + Date.parse(curve.points.delivery_end[i])) / 2;
    const day = localDate(new Date(middle), timezone);
    let best: CurveQuote | null = null;
    let span = Infinity;
    for (const q of quotes) {
      const length = Date.parse(q.end) - Date.parse(q.start);
      if (q.start <= day && day < q.end && length < span) {
        best = q;
        span = length;
      }
    }
    return best ? best.used : null;
  });
}

/** Traded and modelled values as two series (each null where the other holds), meeting at the boundary
 * so the line is continuous. */
export function splitSegments(curve: ForwardCurve): { traded: (number | null)[]; modelled: (number | null)[] } {
  const { value, modelled } = curve.points;
  const traded = value.map((v, i) => (modelled[i] ? null : v));
  const model = value.map((v, i) => (modelled[i] || (i + 1 < value.length && modelled[i + 1]) ? v : null));
  return { traded, modelled: model };
}

/** Simple average of the monthly prices of each calendar year (by delivery month on the market's clock). */
export function calendarStrips(curve: ForwardCurve, timezone: string): { year: string; avg: number; months: number; modelled: boolean }[] {
  const years = new Map<string, { sum: number; months: number; modelled: boolean }>();
  curve.points.delivery_start.forEach((start, i) => {
    const year = localDate(new Date(start), timezone).slice(0, 4);
    const entry = years.get(year) ?? { sum: 0, months: 0, modelled: false };
    entry.sum += curve.points.value[i];
    entry.months += 1;
    entry.modelled ||= curve.points.modelled[i];
    years.set(year, entry);
  });
  return [...years.entries()].map(([year, e]) => ({ year, avg: e.sum / e.months, months: e.months, modelled: e.modelled }));
}

/** Each local hour's mean price over the history, divided by the overall mean (24 factors averaging 1). */
export function hourlyShape(series: RawSeries, timezone: string): number[] {
  const sums = new Array<number>(24).fill(0);
  const counts = new Array<number>(24).fill(0);
  const hourOf = new Intl.DateTimeFormat("en-GB", { timeZone: timezone, hour: "2-digit", hourCycle: "h23" });
  series.t.forEach((t, i) => {
    const v = series.lmp[i];
    if (v === null || !Number.isFinite(v)) return;
    const hour = Number(hourOf.format(new Date(t))) % 24;
    sums[hour] += v;
    counts[hour] += 1;
  });
  const means = sums.map((s, h) => (counts[h] ? s / counts[h] : NaN));
  const known = means.filter((m) => Number.isFinite(m));
  const overall = known.reduce((a, b) => a + b, 0) / (known.length || 1);
  return means.map((m) => (Number.isFinite(m) && overall ? m / overall : NaN));
}

function useCurve(market: string, location: string, block: string, asOfDate: string) {
  const [state, setState] = useState<{ curve: ForwardCurve | null; error: unknown; loading: boolean }>({
    curve: null,
    error: null,
    loading: false,
  });
  useEffect(() => {
    if (!market || !location) return;
    const abort = new AbortController();
    setState((s) => ({ ...s, loading: true, error: null }));
    api
      .forwardCurve({ market, location, block, as_of_date: asOfDate || null }, abort.signal)
      .then((curve) => setState({ curve, error: null, loading: false }))
      .catch((error) => !abort.signal.aborted && setState({ curve: null, error, loading: false }));
    return () => abort.abort();
  }, [market, location, block, asOfDate]);
  return state;
}

export default function Curves() {
  const { me } = useSession();
  const markets = useMemo(() => entitledMarkets(me, "curves"), [me]);
  const [market, setMarket] = useState(markets[0] ?? "");
  const [hubs, setHubs] = useState<Instrument[]>([]);
  const [location, setLocation] = useState(REFERENCE_HUB[markets[0]] ?? "");
  const [block, setBlock] = useState("ATC");
  const [asOfDate, setAsOfDate] = useState("");
  const [compareDate, setCompareDate] = useState("");
  const [month, setMonth] = useState("");
  const [shape, setShape] = useState<{ factors: number[]; days: number } | null>(null);
  const [shapeError, setShapeError] = useState<unknown>(null);
  const timezone = marketInfo(market).timezone;

  useEffect(() => {
    if (!market) return;
    const abort = new AbortController();
    api
      .instruments({ market, type: "hub", limit: 100 }, abort.signal)
      .then((page) => {
        setHubs(page.items);
        setLocation((current) =>
          page.items.some((i) => i.location === current) ? current : (REFERENCE_HUB[market] ?? page.items[0]?.location ?? ""),
        );
      })
      .catch(() => setHubs([]));
    return () => abort.abort();
  }, [market]);

  const main = useCurve(market, location, block, asOfDate);
  const other = useCurve(compareDate ? market : "", location, block, compareDate);

  // the hourly view: the chosen month's price spread over the hours by the last 30 days of day-ahead prices
  useEffect(() => {
    if (!market || !location) return;
    const abort = new AbortController();
    const end = new Date();
    const start = new Date(end.getTime() - 30 * 86_400_000);
    setShapeError(null);
    api
      .ticks({ instrument: [`${market}:${location}`], run: "DA", start: isoZ(start), end: isoZ(end) }, abort.signal)
      .then((ticks) => {
        const series = ticks.series[0] as RawSeries | undefined;
        setShape(series && series.t.length ? { factors: hourlyShape(series, timezone), days: Math.round(series.t.length / 24) } : null);
      })
      .catch((e) => !abort.signal.aborted && setShapeError(e));
    return () => abort.abort();
  }, [market, location, timezone]);

  const chart = useMemo(() => {
    const curve = main.curve;
    if (!curve) return null;
    const xs = curve.points.delivery_start.map((t) => Date.parse(t) / 1000);
    const { traded, modelled } = splitSegments(curve);
    const series: ChartSeries[] = [
      { label: `traded (as of ${curve.as_of_date})`, color: "#4ea1ff", width: 2, steps: true },
      { label: "modelled", color: "#4ea1ff", dash: [6, 4], width: 1.5, steps: true },
      { label: "quotes (as built)", color: "#3ddc97", dash: [2, 3], width: 2, steps: true },
    ];
    const tables: uPlot.AlignedData[] = [[xs, traded, modelled, quoteLevels(curve, timezone)] as unknown as uPlot.AlignedData];
    if (other.curve) {
      tables.push([other.curve.points.delivery_start.map((t) => Date.parse(t) / 1000), other.curve.points.value]);
      series.push({ label: `as of ${other.curve.as_of_date}`, color: "#f5a524", width: 1.5, steps: true });
    }
    return { data: tables.length > 1 ? uPlot.join(tables) : tables[0], series };
  }, [main.curve, other.curve, timezone]);

  const months = useMemo(
    () => (main.curve ? main.curve.points.delivery_start.slice(0, 36).map((t) => localDate(new Date(t), timezone).slice(0, 7)) : []),
    [main.curve, timezone],
  );
  const monthValue = useMemo(() => {
    if (!main.curve) return null;
    const i = months.indexOf(month || months[1] || months[0]);
    return i >= 0 ? main.curve.points.value[i] : null;
  }, [main.curve, months, month]);

  if (!markets.length) {
    return <Empty>Your organisation ({me.tenant}) has no forward curves entitled on the hub. Ask your administrator.</Empty>;
  }
  const notBuilt = main.error instanceof ApiError && main.error.status === 404;
  return (
    <div className="curves">
      <div className="toolbar">
        <h1>Forward curves</h1>
        <label>
          Market
          <select value={market} onChange={(e) => setMarket(e.target.value)} aria-label="Market">
            {markets.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </label>
        <label>
          Hub
          <select value={location} onChange={(e) => setLocation(e.target.value)} aria-label="Hub">
            {hubs.length === 0 ? <option value={location}>{location}</option> : null}
            {hubs.map((h) => (
              <option key={h.id} value={h.location}>
                {h.name ?? h.location}
              </option>
            ))}
          </select>
        </label>
        <label>
          Block
          <select value={block} onChange={(e) => setBlock(e.target.value)}>
            {BLOCKS.map((b) => (
              <option key={b}>{b}</option>
            ))}
          </select>
        </label>
        <label title="the curve's trade date; empty: the latest built">
          As of
          <input type="date" value={asOfDate} onChange={(e) => setAsOfDate(e.target.value)} aria-label="As of date" />
        </label>
        <label title="a second as-of date to compare with">
          Compare with
          <input type="date" value={compareDate} onChange={(e) => setCompareDate(e.target.value)} aria-label="Compare with" />
        </label>
      </div>
      {main.error ? (
        <ErrorBox
          error={main.error}
          advice={
            notBuilt
              ? `No ${block} curve was built for ${market} ${location}${asOfDate ? ` on ${asOfDate}` : ""}. Pick another hub or date; curves are built by \`marketintel curves build\` (the demo builds each market's reference hub).`
              : undefined
          }
        />
      ) : null}
      {other.error && compareDate ? (
        <ErrorBox
          error={other.error}
          advice={`Nothing to compare on ${compareDate}: pick a date a curve was built on, or clear the field.`}
        />
      ) : null}
      {!main.curve && !main.error ? <Loading what="the curve" /> : null}
      {main.curve && chart ? (
        <>
          <div className="chart-note muted" data-testid="curve-summary">
            {main.curve.curve} · {main.curve.scenario} · as of {main.curve.as_of_date} · {main.curve.points.value.length} monthly points to{" "}
            {localDate(new Date(main.curve.points.delivery_start[main.curve.points.delivery_start.length - 1]), timezone).slice(0, 7)} · traded
            until {main.curve.traded_until ?? "—"} (solid), modelled beyond (dashed) · {marketInfo(market).currency}/MWh
          </div>
          <TimeChart data={chart.data} series={chart.series} timezone={timezone} yLabel={`${marketInfo(market).currency}/MWh`} testId="curve-chart" />
          <QuoteTable quotes={main.curve.quotes ?? []} block={block} />
          <div className="two-col">
            <section>
              <h3>Calendar strips</h3>
              <table className="grid compact">
                <thead>
                  <tr>
                    <th className="left">Year</th>
                    <th>Avg</th>
                    <th>Months</th>
                    <th className="left">Segment</th>
                  </tr>
                </thead>
                <tbody>
                  {calendarStrips(main.curve, timezone).map((s) => (
                    <tr key={s.year}>
                      <td className="left">{s.year}</td>
                      <td className="num">{price(s.avg)}</td>
                      <td className="num">{s.months}</td>
                      <td className={`left ${s.modelled ? "muted" : ""}`}>{s.modelled ? "modelled" : "traded"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
            <section>
              <h3>
                Hourly shape of{" "}
                <select value={month || months[1] || months[0] || ""} onChange={(e) => setMonth(e.target.value)} aria-label="Month">
                  {months.map((m) => (
                    <option key={m}>{m}</option>
                  ))}
                </select>
              </h3>
              {shapeError ? <ErrorBox error={shapeError} /> : null}
              {shape && monthValue !== null ? (
                <>
                  <p className="muted small">
                    The month's {block} price ({price(monthValue)}) spread over the hours ({timezone}) by the mean profile of the last{" "}
                    {shape.days} days of day-ahead prices: a view for orientation, not the curve model's own shape.
                  </p>
                  <table className="grid compact hours">
                    <thead>
                      <tr>
                        <th className="left">Hour</th>
                        {shape.factors.map((_, h) => (
                          <th key={h}>{String(h).padStart(2, "0")}</th>
                        ))}
                      </tr>
                    </thead>
                    <tbody>
                      <tr>
                        <td className="left muted">price</td>
                        {shape.factors.map((f, h) => (
                          <td key={h} className="num">
                            {Number.isFinite(f) ? price(monthValue * f) : "—"}
                          </td>
                        ))}
                      </tr>
                      <tr>
                        <td className="left muted">factor</td>
                        {shape.factors.map((f, h) => (
                          <td key={h} className="num muted">
                            {Number.isFinite(f) ? f.toFixed(2) : "—"}
                          </td>
                        ))}
                      </tr>
                    </tbody>
                  </table>
                </>
              ) : !shapeError ? (
                <Empty>No day-ahead history in the last 30 days for {location}: no hourly view.</Empty>
              ) : null}
            </section>
          </div>
        </>
      ) : null}
    </div>
  );
}

function QuoteTable({ quotes, block }: { quotes: CurveQuote[]; block: string }) {
  if (!quotes.length) {
    return <p className="muted small">No {block} quotes for this curve (a nodal curve is its hub's curve plus a basis; see the hub for the quotes).</p>;
  }
  return (
    <section>
      <h3>Quotes the curve was built from</h3>
      <table className="grid compact" data-testid="quote-table">
        <thead>
          <tr>
            <th className="left">Contract</th>
            <th className="left">Delivery</th>
            <th>Quoted</th>
            <th>Bid</th>
            <th>Ask</th>
            <th>Built at</th>
            <th className="left">Source</th>
          </tr>
        </thead>
        <tbody>
          {quotes.map((q) => (
            <tr key={`${q.contract}:${q.product}`}>
              <td className="left">{q.contract}</td>
              <td className="left">
                {q.start} → {q.end}
              </td>
              <td className="num">{price(q.price)}</td>
              <td className="num">{q.bid === null ? "—" : price(q.bid)}</td>
              <td className="num">{q.ask === null ? "—" : price(q.ask)}</td>
              <td className={`num ${q.adjusted ? "warn" : ""}`} title={q.adjusted ? "moved by reconciliation to remove an arbitrage" : undefined}>
                {price(q.used)}
                {q.adjusted ? " (reconciled)" : ""}
              </td>
              <td className="left muted">{q.source}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
