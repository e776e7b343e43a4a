import { afterEach, describe, expect, it, vi } from "vitest";
import { api, ApiError, downloadUrl, onUnauthorised, queryString } from "./client";

function answer(status: number, body: unknown, type = "application/json") {
  return vi.fn(async () => new Response(JSON.stringify(body), { status, headers: { "Content-Type": type } }));
}

afterEach(() => vi.unstubAllGlobals());

describe("queryString", () => {
  it("repeats list parameters and drops empty ones", () => {
    expect(queryString({ instrument: ["MISO:A", "MISO:B"], run: "DA", as_of: null, q: "" })).toBe(
      "?instrument=MISO%3AA&instrument=MISO%3AB&run=DA",
    );
    expect(queryString({})).toBe("");
  });

  it("builds download links on the downloads endpoint", () => {
    expect(downloadUrl({ instrument: ["MISO:X"], run: "DA", start: "a", end: "b", format: "parquet" })).toBe(
      "/api/v1/downloads/prices?instrument=MISO%3AX&run=DA&start=a&end=b&format=parquet",
    );
  });
});

describe("request", () => {
  it("sends the query and returns the JSON body", async () => {
    const fetch = answer(200, { market: "MISO", run: "DA", items: [] });
    vi.stubGlobal("fetch", fetch);
    const latest = await api.latest("MISO", "DA", "hub");
    expect(latest.market).toBe("MISO");
    expect(fetch).toHaveBeenCalledWith("/api/v1/prices/latest?market=MISO&run=DA&type=hub", expect.any(Object));
  });

  it("turns a problem into an ApiError that says what to do", async () => {
    vi.stubGlobal(
      "fetch",
      answer(
        403,
        { type: "https://254carbon.com/problems/not-entitled", title: "Forbidden", status: 403, detail: "tenant pilot_caiso is not entitled to MISO" },
        "application/problem+json",
      ),
    );
    const error = await api.latest("MISO", "DA").catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(403);
    expect(error.kind).toBe("not-entitled");
    expect(error.detail).toContain("not entitled to MISO");
    expect(error.advice).toMatch(/administrator/);
  });

  it("tells listeners when the session has ended, but not for a failed sign-in", async () => {
    const listener = vi.fn();
    const stop = onUnauthorised(listener);
    vi.stubGlobal("fetch", answer(401, { detail: "session expired" }));
    await expect(api.me()).rejects.toThrow("session expired");
    expect(listener).toHaveBeenCalledTimes(1);
    await expect(api.signIn("a@b.c", "wrong")).rejects.toThrow();
    expect(listener).toHaveBeenCalledTimes(1);
    stop();
  });

  it("reports an unreachable gateway as status 0", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    const error = await api.me().catch((e) => e);
    expect(error.status).toBe(0);
    expect(error.advice).toMatch(/cannot be reached/);
  });
});
