// The gateway's HTTP API, same origin, authenticated by the hub's session cookie (mi_session).
import type {
  ApiKey,
  ForwardCurve,
  Instrument,
  Latest,
  LocationType,
  Me,
  NewKey,
  Page,
  Quality,
  Resample,
  Ticks,
} from "./types";

export const API = "/api/v1";

/** An RFC 9457 problem from the gateway (or a network failure, status 0), with what to do about it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly kind: string | null = null,
  ) {
    super(detail);
    this.name = "ApiError";
  }

  /** A sentence for the person in front of the screen: what happened, then what to do. */
  get advice(): string {
    switch (this.status) {
      case 0:
        return "The gateway cannot be reached. Check that it is running, then retry.";
      case 401:
        return "Your session has ended. Sign in again.";
      case 403:
        return "Your organisation is not entitled to this. Ask your administrator for access.";
      case 404:
        return "Nothing matches. Try another instrument, date or range.";
      case 422:
        return "Adjust the highlighted parameter and try again.";
      case 429:
        return "Too many requests right now. Wait a few seconds and retry.";
      case 503:
        return "The service is starting or degraded. Retry in a moment.";
      default:
        return this.status >= 500 ? "The server failed. Retry; if it persists, report it." : "";
    }
  }
}

type Query = Record<string, string | number | string[] | null | undefined>;

export function queryString(params: Query): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
    else search.append(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Listeners told when any call answers 401, so the app can show the sign-in page. */
const unauthorised = new Set<() => void>();
export function onUnauthorised(listener: () => void): () => void {
  unauthorised.add(listener);
  return () => unauthorised.delete(listener);
}

async function problemOf(response: Response): Promise<ApiError> {
  let detail = `${response.status} ${response.statusText}`;
  let kind: string | null = null;
  try {
    const body = await response.json();
    if (body && typeof body.detail === "string") detail = body.detail;
    if (body && typeof body.type === "string") kind = body.type.split("/").pop() ?? null;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, detail, kind);
}

export async function request<T>(
  path: string,
  init: RequestInit & { query?: Query } = {},
): Promise<T> {
  const { query, ...rest } = init;
  let response: Response;
  try {
    response = await fetch(API + path + queryString(query ?? {}), {
      credentials: "same-origin",
      ...rest,
      headers: { Accept: "application/json", ...(rest.body ? { "Content-Type": "application/json" } : {}), ...rest.headers },
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, "network error: the gateway did not answer");
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    if (response.status === 401 && path !== "/auth/session") unauthorised.forEach((f) => f());
    throw problem;
  }
  return (await response.json()) as T;
}

export const api = {
  me: (signal?: AbortSignal) => request<Me>("/me", { signal }),
  signIn: (email: string, password: string) =>
    request<Me>("/auth/session", { method: "POST", body: JSON.stringify({ email, password }) }),
  signOut: () => request<{ signed_out: string }>("/auth/session", { method: "DELETE" }),
  instruments: (
    params: { market?: string; type?: LocationType; q?: string; limit?: number; offset?: number },
    signal?: AbortSignal,
  ) => request<Page<Instrument>>("/instruments", { query: params, signal }),
  latest: (market: string, run: string, type?: LocationType, signal?: AbortSignal) =>
    request<Latest>("/prices/latest", { query: { market, run, type }, signal }),
  ticks: (
    params: {
      instrument: string[];
      run: string;
      start: string;
      end: string;
      as_of?: string | null;
      resample?: Resample | null;
    },
    signal?: AbortSignal,
  ) => request<Ticks>("/prices/ticks", { query: params, signal }),
  forwardCurve: (
    params: { market: string; location: string; block?: string; as_of_date?: string | null },
    signal?: AbortSignal,
  ) => request<ForwardCurve>("/curves/forward", { query: params, signal }),
  quality: (signal?: AbortSignal) => request<Quality>("/quality/sources", { signal }),
  apiKeys: (signal?: AbortSignal) => request<{ items: ApiKey[] }>("/apikeys", { signal }),
  createApiKey: (name: string, role: string) =>
    request<NewKey>("/apikeys", { method: "POST", body: JSON.stringify({ name, role }) }),
  revokeApiKey: (prefix: string) =>
    request<ApiKey>(`/apikeys/${encodeURIComponent(prefix)}`, { method: "DELETE" }),
};

/** The URL of a price download (a plain link: the browser sends the session cookie and saves the file). */
export function downloadUrl(params: {
  instrument: string[];
  run: string;
  start: string;
  end: string;
  as_of?: string | null;
  format: "csv" | "parquet";
}): string {
  return `${API}/downloads/prices${queryString(params)}`;
}
