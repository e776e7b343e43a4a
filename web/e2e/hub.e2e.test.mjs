// The hub end to end in real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// against `marketintel serve` over demo data, with a NATS JetStream bus the test publishes to:
// sign in → dashboard prices → a published interval appears live → explorer plots a node → curves render →
// the CAISO pilot sees no API-key page and no market it is not entitled to. Screenshots go to
// web/test-results/; the dashboard's time to interactive and the first page's gzip size are measured here
// and recorded by `python -m bench.web`.
//
// Under CI=true a missing Chromium, NATS or build fails the run; elsewhere the suite is skipped, saying why.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";

const WEB = path.resolve(import.meta.dirname, "..");
const REPO = path.resolve(WEB, "..");
const DIST = path.join(WEB, "dist");
const RESULTS = path.join(WEB, "test-results");
const PYTHON = path.join(REPO, ".venv", "bin", "python");
const MARKETINTEL = path.join(REPO, ".venv", "bin", "marketintel");
const CHROMIUM = process.env.MARKETINTEL_CHROMIUM ?? "/usr/bin/chromium";
const NATS = process.env.MARKETINTEL_TEST_NATS_URL ?? "nats://127.0.0.1:4222";
const DEMO_DAYS = 2;
const TTI_RUNS = 5;
const CI = process.env.CI === "true" || process.env.CI === "1";

function reachable(url) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 4222) });
    socket.setTimeout(2000);
    socket.once("data", (data) => {
      socket.destroy();
      resolve(data.toString().startsWith("INFO") && data.toString().includes('"jetstream":true'));
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function missing() {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium chromium-driver; make test does)`;
  if (!existsSync(path.join(DIST, "index.html"))) return "no build in web/dist (run make web)";
  if (!existsSync(MARKETINTEL)) return "no .venv/bin/marketintel (run make install)";
  if (!(await reachable(NATS))) return `no NATS JetStream at ${NATS}`;
  return null;
}

const reason = await missing();
if (reason && CI) throw new Error(`the hub E2E cannot run under CI: ${reason}`);

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function waitFor(url, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

describe("web hub in Chromium", { skip: reason ?? false }, () => {
  const tag = randomBytes(5).toString("hex");
  const busUrl = `${NATS}?stream=E2E_${tag}&prefix=e2e${tag}`;
  let dataDir;
  let env;
  let server;
  let serverLog = "";
  let base;
  let browser;
  let accounts;
  let misoState;
  const measured = { dashboard_interactive_ms: [], dashboard_live_ms: [], demo_days: DEMO_DAYS };

  const shot = (page, name) => page.screenshot({ path: path.join(RESULTS, `${name}.png`), fullPage: true });
  const account = (tenant) => accounts.find((a) => a.tenant === tenant);

  async function signIn(context, tenant) {
    const page = await context.newPage();
    await page.goto(base + "/");
    const { email, password } = account(tenant);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("html[data-dashboard=ready]").waitFor({ timeout: 30_000 });
    return page;
  }

  before(async () => {
    mkdirSync(RESULTS, { recursive: true });
    dataDir = mkdtempSync(path.join(tmpdir(), "marketintel-web-e2e-"));
    env = { ...process.env, MARKETINTEL_DATA_DIR: dataDir, MARKETINTEL_WEB_DIST: DIST, MARKETINTEL_LOG_LEVEL: "WARNING" };
    // the demo loads on the in-process bus (its history need not cross NATS); the server reads our stream
    const demo = spawnSync(MARKETINTEL, ["demo", "--days", String(DEMO_DAYS), "--no-serve"], { env, encoding: "utf8", timeout: 300_000 });
    assert.equal(demo.status, 0, `marketintel demo failed:\n${demo.stdout}\n${demo.stderr}`);
    accounts = JSON.parse(readFileSync(path.join(dataDir, "demo-credentials.json"), "utf8"));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(MARKETINTEL, ["serve", "--port", String(port)], {
      env: { ...env, MARKETINTEL_BUS_URL: busUrl, MARKETINTEL_AUTH_ISSUER: base },
      stdio: ["ignore", "pipe", "pipe"],
    });
    server.stdout.on("data", (d) => (serverLog += d));
    server.stderr.on("data", (d) => (serverLog += d));
    await waitFor(`${base}/healthz`, 60_000);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
    measured.browser = browser.version();
  });

  after(async () => {
    await browser?.close();
    if (server) {
      server.kill("SIGTERM");
      await new Promise((r) => server.once("exit", r));
    }
    spawnSync(PYTHON, [path.join(WEB, "e2e", "bus_helper.py"), "delete", busUrl], { cwd: REPO, timeout: 30_000 });
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (process.exitCode) console.error(serverLog.slice(-4000));
  });

  it("signs in and shows the MISO pilot's prices on the dashboard", async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await signIn(context, "pilot_miso");
    const row = page.locator('[data-market=MISO] tr[data-instrument="MISO:INDIANA.HUB"]');
    await assert.doesNotReject(row.waitFor());
    assert.match(await row.locator("td[data-col=rt]").innerText(), /^-?[\d,]+\.\d\d$/);
    assert.equal(await page.locator("[data-market]").count(), 1, "only MISO is entitled");
    assert.ok(await page.locator(".badge[data-run=RT5]").count(), "a freshness badge per source");
    misoState = await context.storageState();
    await shot(page, "01-dashboard-miso");
    await context.close();
  });

  it("shows an interval published to the bus live, without a reload", async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, storageState: misoState });
    const page = await context.newPage();
    await page.goto(base + "/");
    await page.locator("html[data-dashboard=ready]").waitFor();
    await page.locator("html[data-stream=subscribed]").waitFor({ timeout: 15_000 });
    const cell = page.locator('[data-market=MISO] tr[data-instrument="MISO:INDIANA.HUB"] td[data-col=rt]');
    const next = new Date(Math.ceil(Date.now() / 300_000) * 300_000 + 300_000).toISOString();
    const published = spawnSync(
      PYTHON,
      [path.join(WEB, "e2e", "bus_helper.py"), "publish", busUrl, "MISO", "INDIANA.HUB", "RT5", "987.65", next],
      { cwd: REPO, encoding: "utf8", timeout: 30_000 },
    );
    assert.equal(published.status, 0, published.stderr);
    await page.waitForFunction((el) => el.textContent === "987.65", await cell.elementHandle(), { timeout: 15_000 });
    await shot(page, "02-dashboard-live-interval");
    await context.close();
  });

  it("measures time to interactive and the first page's bundle", async () => {
    const files = new Map();
    for (let i = 0; i < TTI_RUNS; i++) {
      const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, storageState: misoState });
      const page = await context.newPage();
      await page.goto(base + "/");
      await page.locator("html[data-dashboard=ready]").waitFor();
      await page.locator("html[data-stream=subscribed]").waitFor({ timeout: 15_000 });
      const timing = await page.evaluate(() => ({
        interactive: performance.getEntriesByName("dashboard-interactive")[0]?.startTime,
        live: performance.getEntriesByName("dashboard-live")[0]?.startTime,
        resources: performance.getEntriesByType("resource").map((r) => new URL(r.name).pathname),
      }));
      assert.ok(timing.interactive > 0, "the dashboard marked itself interactive");
      measured.dashboard_interactive_ms.push(timing.interactive);
      if (timing.live) measured.dashboard_live_ms.push(timing.live);
      timing.resources.filter((p) => /^\/assets\/.+\.(js|css)$/.test(p)).forEach((p) => files.set(p, true));
      await context.close();
    }
    const sizes = [...files.keys()].map((p) => ({ file: p, gzip_bytes: gzipSync(readFileSync(path.join(DIST, p)), { level: 9 }).length }));
    assert.ok(sizes.some((s) => s.file.endsWith(".js")), "the first page loaded its script");
    measured.first_page_files = sizes;
    measured.first_page_gzip_bytes = sizes.reduce((a, s) => a + s.gzip_bytes, 0);
    writeFileSync(path.join(RESULTS, "web-measurements.json"), JSON.stringify(measured, null, 2));
    const recorded = spawnSync(PYTHON, ["-m", "bench.web", path.join(RESULTS, "web-measurements.json")], { cwd: REPO, encoding: "utf8" });
    assert.equal(recorded.status, 0, recorded.stderr);
    console.log(
      `first page ${(measured.first_page_gzip_bytes / 1024).toFixed(1)} KiB gzip; dashboard interactive ` +
        `${measured.dashboard_interactive_ms.map((v) => v.toFixed(0)).join(", ")} ms`,
    );
  });

  it("plots a node in the explorer, with downloads for a tenant that has them", async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, storageState: misoState });
    const page = await context.newPage();
    await page.goto(base + "/explorer");
    await page.getByLabel("Search instruments").fill("INDIANA");
    await page.locator('button[data-instrument="MISO:INDIANA.HUB"]').click();
    await page.locator("[data-testid=explorer-chart] canvas").waitFor();
    const points = await page.locator("table.grid tbody tr td:nth-child(2)").allInnerTexts();
    assert.ok(points.length >= 2 && points.every((p) => Number(p) > 0), `series have points: ${points}`);
    assert.ok(await page.getByRole("link", { name: "DA CSV" }).count(), "a download link");
    await shot(page, "03-explorer");
    await context.close();
  });

  it("renders the forward curve to 2050", async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, storageState: misoState });
    const page = await context.newPage();
    await page.goto(base + "/");
    await page.getByRole("link", { name: "Curves" }).click();
    await page.locator("[data-testid=curve-chart] canvas").waitFor({ timeout: 20_000 });
    const summary = await page.getByTestId("curve-summary").innerText();
    assert.match(summary, /MISO:INDIANA\.HUB:ATC/);
    assert.match(summary, /to 20(4|5)\d/);
    // the quotes the run was built from, listed under the chart (and drawn on it as levels)
    const quoteRows = page.locator("[data-testid=quote-table] tbody tr");
    await quoteRows.first().waitFor({ timeout: 10_000 });
    assert.ok((await quoteRows.count()) >= 3, "the demo hub's curve lists its quotes");
    await shot(page, "04-curves");
    await context.close();
  });

  it("shows the CAISO pilot CAISO only, and no API-key page", async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await signIn(context, "pilot_caiso");
    assert.equal(await page.locator("[data-market=CAISO]").count(), 1);
    assert.equal(await page.locator("[data-market]").count(), 1);
    assert.equal(await page.getByRole("link", { name: "API keys" }).count(), 0);
    assert.doesNotMatch(await page.locator("body").innerText(), /MISO|PJM|ERCOT/);
    await shot(page, "05-caiso-dashboard");
    await page.goto(base + "/api-keys");
    await page.getByText("No page at").waitFor();
    await page.goto(base + "/explorer");
    await page.getByLabel("Search instruments").fill("HUB");
    await page.locator(".results li").first().waitFor();
    const found = await page.locator(".results button").allInnerTexts();
    assert.ok(found.length && found.every((t) => t.startsWith("CAISO:")), `CAISO instruments only: ${found}`);
    await shot(page, "06-caiso-explorer");
    await context.close();
  });
});
