// Numbers and times the way a trading screen shows them: fixed decimals, market-local clocks named.

const priceFormat = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export function price(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value) ? "—" : priceFormat.format(value);
}

export function signed(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return (value > 0 ? "+" : "") + priceFormat.format(value);
}

const formats = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string, withDate: boolean): Intl.DateTimeFormat {
  const key = `${timeZone}|${withDate}`;
  let found = formats.get(key);
  if (!found) {
    // en-US names North American zones the way traders say them (PST, EDT); others read GMT-5
    found = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
      ...(withDate ? { month: "short", day: "2-digit" } : {}),
      timeZoneName: "short",
    });
    formats.set(key, found);
  }
  return found;
}

/** "Nov 22, 14:05 GMT-5": an instant on a market's clock, its zone named. */
export function localTime(iso: string | null | undefined, timeZone: string, withDate = true): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  return formatter(timeZone, withDate).format(date);
}

/** The zone's short name now ("PST", "GMT-5"), for column headers. */
export function zoneName(timeZone: string, at: Date = new Date()): string {
  const part = formatter(timeZone, false)
    .formatToParts(at)
    .find((p) => p.type === "timeZoneName");
  return part?.value ?? timeZone;
}

/** "3h", "2d 4h", "45m", "20s": the coarsest two units of a duration. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "no data";
  const sign = seconds < 0 ? "-" : "";
  let rest = Math.floor(Math.abs(seconds));
  const days = Math.floor(rest / 86400);
  rest %= 86400;
  const hours = Math.floor(rest / 3600);
  rest %= 3600;
  const minutes = Math.floor(rest / 60);
  const parts = [days && `${days}d`, hours && `${hours}h`, minutes && `${minutes}m`].filter(Boolean);
  return sign + (parts.length ? parts.slice(0, 2).join(" ") : `${rest}s`);
}

/** ISO date (yyyy-mm-dd) of an instant on a zone's clock. */
export function localDate(date: Date, timeZone: string): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
}

export function isoZ(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
