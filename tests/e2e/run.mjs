#!/usr/bin/env node
// End-to-end tests in a real browser: playwright-core drives the system Chromium
// (/usr/bin/chromium, never a downloaded one) through the whole connect / test / disconnect
// flow against the real app and the bundled mock OAuth 2.0 / OpenID Connect provider.
//
//   cd /work/main && cargo build --bins          # targetym-integrations + mock-provider
//   cd tests/e2e && npm ci && npm test
//
// Environment:
//   E2E_BIN_DIR      folder holding the two binaries
//                    (default $CARGO_TARGET_DIR/debug, else <repo>/target/debug)
//   E2E_CHROMIUM     browser executable (default /usr/bin/chromium)
//   E2E_KEEP_TMP=1   keep the temp dir (logs, database) even when everything passed
//
// Everything listens on 127.0.0.1; every wait is bounded; a watchdog ends the run after
// 170 s. Screenshots go to <repo>/target/e2e-screenshots/. Exit code 0 only when every
// step passed.

import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const BIN_DIR =
  process.env.E2E_BIN_DIR ||
  (process.env.CARGO_TARGET_DIR
    ? path.join(process.env.CARGO_TARGET_DIR, "debug")
    : path.join(REPO, "target", "debug"));
const CHROMIUM = process.env.E2E_CHROMIUM || "/usr/bin/chromium";
const SHOTS = path.join(REPO, "target", "e2e-screenshots");
const WATCHDOG_MS = 170_000;
const STEP_TIMEOUT_MS = 10_000;
const NAV_TIMEOUT_MS = 15_000;
const START_TIMEOUT_MS = 30_000;

const ORG = "E2E Test Org";
const EMAIL = "admin@e2e.example";
const PASSWORD20 = "e2e-Passw0rd-2025!xy"; // 20 characters
const ACCOUNT = "ada@mock.example";

const started = Date.now();
const failures = [];
const warnings = [];
const screenshots = [];
const children = [];
let browser = null;
let tmp = null;

const secs = (ms) => (ms / 1000).toFixed(1) + "s";
const log = (line) => console.log(`[${secs(Date.now() - started).padStart(6)}] ${line}`);

// ---------------------------------------------------------------------------------------
// Steps: a failing step aborts its phase (later steps depend on it) unless it is "soft",
// in which case it is recorded and the phase goes on.

class PhaseAbort extends Error {}

async function step(name, fn, { soft = false } = {}) {
  const t0 = Date.now();
  try {
    const detail = await fn();
    log(`  ok   ${name}${detail ? ` — ${detail}` : ""} (${secs(Date.now() - t0)})`);
  } catch (error) {
    const message = firstLines(error);
    log(`  FAIL ${name} (${secs(Date.now() - t0)})\n         ${message.replace(/\n/g, "\n         ")}`);
    failures.push(`${name}: ${message.split("\n")[0]}`);
    if (!soft) throw new PhaseAbort(name);
  }
}

async function phase(name, fn) {
  log(`== ${name}`);
  try {
    await fn();
  } catch (error) {
    if (error instanceof PhaseAbort) {
      log(`   (rest of "${name}" skipped after the failure above)`);
    } else {
      log(`   FAIL ${name}: ${firstLines(error)}`);
      failures.push(`${name}: ${firstLines(error).split("\n")[0]}`);
    }
  }
}

function firstLines(error, n = 6) {
  const text = String(error && error.message ? error.message : error);
  return text.split("\n").filter((l) => l.trim() !== "").slice(0, n).join("\n");
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

// ---------------------------------------------------------------------------------------
// Processes

async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

function startProcess(name, file, args, { env, cwd }) {
  const logPath = path.join(tmp, `${name}.log`);
  const out = fs.openSync(logPath, "w");
  const child = spawn(file, args, { env, cwd, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  const entry = { name, child, logPath, exited: null };
  child.on("exit", (code, signal) => {
    entry.exited = { code, signal };
  });
  child.on("error", (error) => {
    entry.exited = { code: null, signal: null, error };
  });
  children.push(entry);
  return entry;
}

async function waitForUrl(entry, url, timeoutMs = START_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (entry.exited) {
      throw new Error(`${entry.name} exited (${JSON.stringify(entry.exited)}) before ${url} answered:\n${tail(entry.logPath)}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000), redirect: "manual" });
      if (response.ok) return response;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = String(error.cause?.code || error.message);
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (${last}):\n${tail(entry.logPath)}`);
}

function tail(file, lines = 25) {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function stopProcesses() {
  await Promise.all(
    children.map(async (entry) => {
      if (entry.exited) return;
      entry.child.kill("SIGTERM");
      const deadline = Date.now() + 5000;
      while (!entry.exited && Date.now() < deadline) await sleep(50);
      if (!entry.exited) {
        entry.child.kill("SIGKILL");
        await sleep(100);
      }
    }),
  );
}

let cleaningUp = null;
function cleanup() {
  cleaningUp ??= (async () => {
    if (browser) await browser.close().catch(() => {});
    await stopProcesses();
  })();
  return cleaningUp;
}

// ---------------------------------------------------------------------------------------
// Browser helpers

function pathOf(page) {
  return new URL(page.url()).pathname;
}

async function waitForPath(page, predicate, what) {
  const test = typeof predicate === "string" ? (p) => p === predicate : predicate;
  try {
    await page.waitForURL((url) => url.origin === appOrigin && test(url.pathname), { timeout: NAV_TIMEOUT_MS });
  } catch {
    const shown = await page
      .locator("main")
      .first()
      .innerText({ timeout: 1000 })
      .catch(() => "");
    throw new Error(
      `expected to be on ${what ?? predicate}, but the page is ${page.url()}` +
        (shown ? `, showing: "${shown.replace(/\s+/g, " ").trim().slice(0, 200)}"` : ""),
    );
  }
}

async function shot(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, timeout: STEP_TIMEOUT_MS });
  screenshots.push(file);
  log(`       screenshot ${file}`);
}

function card(page, slug) {
  return page.locator(`li.card[data-provider="${slug}"]`);
}

async function expectCardState(page, slug, state, text) {
  const c = card(page, slug);
  await c.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
  const el = c.locator("[data-state]");
  let actual = null;
  let content = "";
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  do {
    actual = await el.getAttribute("data-state", { timeout: STEP_TIMEOUT_MS });
    content = ((await el.textContent()) ?? "").trim();
    if (actual === state && (!text || content.includes(text))) {
      return `data-state="${actual}", "${content}"`;
    }
    await sleep(100);
  } while (Date.now() < deadline);
  throw new Error(
    `card ${slug}: expected data-state="${state}"${text ? ` with "${text}"` : ""}, got data-state="${actual}" "${content}"`,
  );
}

async function expectText(locator, pattern, what, timeout = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  let content = "";
  do {
    content = (await locator.first().textContent({ timeout }).catch(() => null)) ?? "";
    if (typeof pattern === "string" ? content.includes(pattern) : pattern.test(content)) return content.trim();
    await sleep(100);
  } while (Date.now() < deadline);
  throw new Error(`${what}: expected ${pattern} within ${timeout} ms, got "${content.trim().slice(0, 300)}"`);
}

// The card's own "Connect" link (not "Reconnect …", not "Manage").
function connectLink(page, slug) {
  return card(page, slug).locator(`a[href="/integrations/${slug}/connect"]`);
}

function watchPage(context, label) {
  context.on("page", (page) => {
    page.on("pageerror", (error) => {
      failures.push(`${label}: uncaught page error on ${page.url()}: ${error.message}`);
      log(`  FAIL ${label}: uncaught page error on ${page.url()}: ${error.message}`);
    });
    page.on("console", (message) => {
      // Failed loads are reported below with their URL; anything else (a CSP violation, a
      // script error logged by htmx) is worth a look.
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
        warnings.push(`${label}: console error on ${page.url()}: ${message.text()}`);
      }
    });
    page.on("response", (response) => {
      const { pathname } = new URL(response.url());
      if (response.status() >= 400 && response.status() < 500 && pathname !== "/favicon.ico") {
        warnings.push(`${label}: HTTP ${response.status()} from ${response.request().method()} ${response.url()}`);
      }
      if (response.status() >= 500) {
        failures.push(`${label}: HTTP ${response.status()} from ${response.request().method()} ${response.url()}`);
        log(`  FAIL ${label}: HTTP ${response.status()} from ${response.request().method()} ${response.url()}`);
      }
    });
  });
}

async function newContext(options, label) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(NAV_TIMEOUT_MS);
  watchPage(context, label);
  return context;
}

async function signIn(page) {
  await page.goto(`${appOrigin}/login`);
  await page.locator("#email").fill(EMAIL);
  await page.locator("#password").fill(PASSWORD20);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await waitForPath(page, "/integrations");
}

// ---------------------------------------------------------------------------------------

let appOrigin = null;
let mockOrigin = null;

async function main() {
  const watchdog = setTimeout(async () => {
    log(`FAIL watchdog: the run took longer than ${WATCHDOG_MS / 1000} s`);
    failures.push("watchdog: run too long");
    await Promise.race([cleanup(), sleep(5000)]);
    process.exit(1);
  }, WATCHDOG_MS);
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, async () => {
      log(`FAIL interrupted by ${signal}; stopping the browser and both servers`);
      await Promise.race([cleanup(), sleep(5000)]);
      process.exit(1);
    });
  }

  const app = path.join(BIN_DIR, "targetym-integrations");
  const mock = path.join(BIN_DIR, "mock-provider");
  for (const bin of [app, mock, CHROMIUM]) {
    if (!fs.existsSync(bin)) {
      throw new Error(
        `${bin} is missing. Build with: cd ${REPO} && cargo build --bins (or set E2E_BIN_DIR); ` +
          `Chromium: apt-get install -y chromium`,
      );
    }
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "targetym-e2e-"));
  fs.mkdirSync(SHOTS, { recursive: true });
  // Only this run's pictures: a step that fails must not leave an older picture in its place.
  for (const old of fs.readdirSync(SHOTS)) if (old.endsWith(".png")) fs.rmSync(path.join(SHOTS, old));
  log(`binaries ${BIN_DIR}; temp dir ${tmp}`);

  // 1. The mock provider, with its consent page (no --auto-approve).
  const mockPort = await freePort();
  let appPort = await freePort();
  while (appPort === mockPort) appPort = await freePort();
  mockOrigin = `http://127.0.0.1:${mockPort}`;
  appOrigin = `http://127.0.0.1:${appPort}`;

  log("== start");
  await step(`mock-provider --port ${mockPort}`, async () => {
    const entry = startProcess("mock-provider", mock, ["--port", String(mockPort)], {
      env: { RUST_LOG: "warn" },
      cwd: tmp,
    });
    const response = await waitForUrl(entry, `${mockOrigin}/.well-known/openid-configuration`);
    const discovery = await response.json();
    assert(discovery.issuer === mockOrigin, `discovery issuer is ${discovery.issuer}, expected ${mockOrigin}`);
    return `issuer ${discovery.issuer}`;
  });

  // 2. The providers file: the snippet the mock prints.
  const providersFile = path.join(tmp, "providers.toml");
  fs.writeFileSync(
    providersFile,
    `[[provider]]
slug = "mock-oidc"
name = "Mock OIDC"
kind = "oidc"
issuer = "${mockOrigin}"
client_id = "mock-client"
client_secret = "mock-secret"
scopes = ["openid", "email", "profile", "offline_access"]
token_auth_method = "client_secret_basic"
category = "Testing"

[[provider]]
slug = "mock-oauth"
name = "Mock OAuth"
kind = "oauth2"
authorize_url = "${mockOrigin}/authorize"
token_url = "${mockOrigin}/token"
revoke_url = "${mockOrigin}/revoke"
userinfo_url = "${mockOrigin}/userinfo"
client_id = "mock-client"
client_secret = "mock-secret"
scopes = ["read", "write"]
token_auth_method = "client_secret_post"
category = "Testing"

# Slack, played by the mock: its APIs under /hosts/slack.com.
[[provider]]
slug = "slack"
authorize_url = "${mockOrigin}/authorize"
token_url = "${mockOrigin}/token"
revoke_url = "${mockOrigin}/revoke"
userinfo_url = "${mockOrigin}/api/auth.test"
api_base_url = "${mockOrigin}/api"
api_hosts = "${mockOrigin}/hosts"
client_id = "mock-client"
client_secret = "mock-secret"
`,
  );

  // 3. The app, with nothing in its environment but these.
  await step(`targetym-integrations on 127.0.0.1:${appPort}`, async () => {
    const entry = startProcess("targetym-integrations", app, [], {
      env: {
        PROVIDERS_FILE: providersFile,
        DATA_DIR: path.join(tmp, "data"),
        DATABASE_URL: path.join(tmp, "e2e.sqlite3"),
        BIND_ADDR: `127.0.0.1:${appPort}`,
        RUST_LOG: "warn",
        // The worker runs the People page's Sync now within a second.
        WORKER_TICK_SECS: "1",
      },
      cwd: tmp,
    });
    await waitForUrl(entry, `${appOrigin}/healthz`);
    return `${appOrigin}/healthz answered`;
  });

  await step("launch Chromium", async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30_000,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
      ],
    });
    return `Chromium ${browser.version()}`;
  });

  // 4. JavaScript on: setup, sign out / in, connect mock-oidc in the dialog, test, disconnect.
  const jsContext = await newContext({}, "js");
  await phase("JavaScript on: setup, sign-in, Mock OIDC through dialogs", async () => {
    const page = await jsContext.newPage();

    await step("/ redirects to /setup", async () => {
      await page.goto(`${appOrigin}/`);
      await waitForPath(page, "/setup");
      await page.locator("#org_name").waitFor();
      await shot(page, "01-setup");
    });

    await step("setup creates the organization → /integrations", async () => {
      await page.getByLabel("Organization name").fill(ORG);
      await page.getByLabel("Your work email").fill(EMAIL);
      await page.locator("#password").fill(PASSWORD20);
      await page.locator("#password_confirm").fill(PASSWORD20);
      await page.locator("form[action='/setup'] button[type=submit]").click();
      await waitForPath(page, "/integrations");
      return page.url();
    });

    await step("sign out", async () => {
      await page.locator("header").getByRole("button", { name: "Sign out" }).click();
      await waitForPath(page, "/login");
    });

    await step("signed out: /integrations sends to /login", async () => {
      await page.goto(`${appOrigin}/integrations`);
      await waitForPath(page, "/login");
    });

    await step("sign in at /login → /integrations", async () => {
      await signIn(page);
    });

    await step('card mock-oidc is "available"', async () => {
      const detail = await expectCardState(page, "mock-oidc", "available");
      await shot(page, "02-integrations");
      return detail;
    });

    await step("Connect opens the dialog (htmx, showModal)", async () => {
      const link = connectLink(page, "mock-oidc");
      assert((await link.textContent()).trim() === "Connect", `link text is "${(await link.textContent()).trim()}"`);
      assert(await link.getAttribute("hx-get"), "the Connect link has no hx-get");
      await link.click();
      const dialog = page.locator("dialog[open]");
      await dialog.waitFor({ state: "visible" });
      await expectText(dialog, "Connect Mock OIDC", "dialog");
      assert(pathOf(page) === "/integrations", `the link navigated to ${page.url()} instead of opening a dialog`);
      await shot(page, "03-connect-dialog");
    });

    await step("tick consent, Continue → the mock's consent page", async () => {
      const dialog = page.locator("dialog[open]");
      await dialog.locator("input[name=consent]").check();
      await dialog.getByRole("button", { name: "Continue to Mock OIDC" }).click();
      await page.waitForURL((url) => url.origin === mockOrigin, { timeout: NAV_TIMEOUT_MS });
      await page.getByRole("button", { name: "Approve" }).waitFor();
      await shot(page, "04-mock-consent");
      return new URL(page.url()).pathname;
    });

    await step(`Approve → callback "Connected as ${ACCOUNT}"`, async () => {
      await page.getByRole("button", { name: "Approve" }).click();
      await waitForPath(page, "/integrations/callback");
      const text = await expectText(page.locator("main"), `Connected as ${ACCOUNT}`, "callback page");
      await shot(page, "05-callback");
      return text.replace(/\s+/g, " ").slice(0, 80);
    });

    await step('Back to integrations: card mock-oidc is "connected"', async () => {
      await page.getByRole("link", { name: "Back to integrations" }).click();
      await waitForPath(page, "/integrations");
      return expectCardState(page, "mock-oidc", "connected", `Connected as ${ACCOUNT}`);
    });

    let detailPath = null;
    await step("Manage → the integration page", async () => {
      await card(page, "mock-oidc").locator("a", { hasText: "Manage" }).click();
      await waitForPath(page, (p) => /^\/integrations\/[^/]+$/.test(p) && p !== "/integrations/callback", "/integrations/{id}");
      detailPath = pathOf(page);
      const title = await page.title();
      assert(title.includes("Mock OIDC"), `title is "${title}"`);
      return `${detailPath}, title "${title}"`;
    });

    await step("Activity has a connect row", async () => {
      const rows = page.locator('table.log tr[data-kind="connect"]');
      const n = await rows.count();
      assert(n >= 1, `no tr[data-kind="connect"] in table.log`);
      return `${n} row(s)`;
    });

    await step(
      'Test connection (htmx) → #test-result "OK … ms"',
      async () => {
        await page.locator("button#test-connection").click({ timeout: 3000 });
        const text = await expectText(page.locator("#test-result"), /\bOK\b[\s\S]*\d+\s*ms\b/, "#test-result", 10_000);
        assert(pathOf(page) === detailPath, `the page navigated to ${page.url()}`);
        return text.replace(/\s+/g, " ");
      },
      { soft: true },
    );
    await shot(page, "06-integration");

    await step("Disconnect opens the confirmation dialog", async () => {
      if (pathOf(page) !== detailPath) await page.goto(`${appOrigin}${detailPath}`);
      await page.locator(".actions").getByRole("link", { name: "Disconnect" }).click();
      const dialog = page.locator("dialog[open]");
      await dialog.waitFor({ state: "visible" });
      await expectText(dialog, "Disconnect Mock OIDC", "dialog");
      await shot(page, "07-disconnect-dialog");
    });

    await step('confirm → /integrations, "is disconnected", card "available"', async () => {
      await page.locator("dialog[open]").getByRole("button", { name: "Disconnect" }).click();
      await waitForPath(page, "/integrations");
      const flash = await expectText(page.locator("main .alert"), "is disconnected", "flash message");
      const state = await expectCardState(page, "mock-oidc", "available");
      return `"${flash}"; ${state}`;
    });
    await page.close();
  });

  // 4b. Access by feature: connect Slack without one optional feature, see it asked for on the
  // integration's page, add it with Add access on the same connection.
  await phase("Access by feature: Slack, then Add access", async () => {
    const page = await jsContext.newPage();
    const approve = async (button) => {
      const dialog = page.locator("dialog[open]");
      await dialog.locator("input[name=consent]").check();
      await dialog.getByRole("button", { name: button }).click();
      await page.waitForURL((url) => url.origin === mockOrigin, { timeout: NAV_TIMEOUT_MS });
      await page.getByRole("button", { name: "Approve" }).click();
      await waitForPath(page, "/integrations/callback");
    };
    await step("the dialog offers the features; untick \"List and create channels\"", async () => {
      await page.goto(`${appOrigin}/integrations`);
      await connectLink(page, "slack").click();
      const dialog = page.locator("dialog[open]");
      await dialog.waitFor({ state: "visible" });
      const required = dialog.locator("input[name='feature.post-messages'][type=checkbox]");
      assert(await required.isChecked() && await required.isDisabled(), "a required feature is fixed");
      const channels = dialog.locator("input[name='feature.manage-channels']");
      assert(await channels.isChecked(), "an optional feature starts ticked");
      await channels.uncheck();
      await shot(page, "16-slack-features");
      await approve("Continue to Slack");
      return "connected without channels";
    });
    let detailPath = null;
    await step("the integration page asks for more access", async () => {
      await page.getByRole("link", { name: "Back to integrations" }).click();
      await waitForPath(page, "/integrations");
      await card(page, "slack").locator("a", { hasText: "Manage" }).click();
      await waitForPath(page, (p) => /^\/integrations\/[^/]+$/.test(p) && p !== "/integrations/callback", "/integrations/{id}");
      detailPath = pathOf(page);
      await expectText(page.locator("main"), "Needs more access: List and create channels", "integration page");
      await shot(page, "17-needs-more-access");
    });
    await step("Add access → the same connection gains the feature", async () => {
      await page.getByRole("link", { name: "Add access" }).click();
      const dialog = page.locator("dialog[open]");
      await dialog.waitFor({ state: "visible" });
      assert(await dialog.locator("input[name='feature.manage-channels']").isChecked(), "the asked feature is ticked");
      await approve("Continue to Slack");
      await page.goto(`${appOrigin}${detailPath}`);
      await page.locator("li[data-access='manage-channels'][data-granted='true']").waitFor();
      const text = await page.locator("main").textContent();
      assert(!text.includes("Needs more access"), "no feature is missing any more");
      return detailPath;
    });
    await page.close();
  });

  await phase("People: Sync now -> progress -> the people of the Slack workspace", async () => {
    const page = await jsContext.newPage();
    await step("the People page lists the Slack directory with Sync now", async () => {
      await page.goto(`${appOrigin}/people`);
      const row = page.locator("tr[data-directory]");
      await expectText(row, "Slack", "directory row");
      return await row.count() + " directory";
    });
    await step("Sync now shows the sync's progress while the page polls", async () => {
      await page.getByRole("button", { name: /^Sync Slack .* now$/ }).click();
      await page.locator("#people-body[hx-trigger] progress").first().waitFor({ timeout: STEP_TIMEOUT_MS });
      await shot(page, "18-people-sync-progress");
      return "progress shown";
    });
    await step("the sync ends: the people appear and polling stops", async () => {
      await page.locator("tr[data-person='ada@acme.example']").waitFor({ timeout: 20_000 });
      await page.locator("tr[data-person='bob@acme.example']").waitFor();
      await page.getByRole("button", { name: /^Sync Slack .* now$/ }).waitFor();
      assert(await page.locator("#people-body[hx-trigger]").count() === 0, "no polling once the sync is done");
      await expectText(page.locator("tr[data-directory]"), "2 active", "directory counts");
      await shot(page, "19-people");
      return "Ada and Bob listed";
    });
    await step("filter: nobody lacks a Slack account", async () => {
      const id = await page.locator("tr[data-directory]").getAttribute("data-directory");
      await page.locator("#people-missing").selectOption(id);
      await page.waitForFunction(() => document.querySelectorAll("tr[data-person]").length === 0, null, { timeout: STEP_TIMEOUT_MS });
      assert(new URL(page.url()).searchParams.get("missing") === id, "the filter is in the URL");
      return "filtered";
    });
    await page.close();
  });

  // 5. JavaScript off: mock-oauth through full pages.
  await phase("JavaScript off: Mock OAuth through full pages", async () => {
    const context = await newContext({ javaScriptEnabled: false }, "no-js");
    const page = await context.newPage();

    await step("sign in (no JS)", async () => {
      await signIn(page);
    });

    await step('card mock-oauth is "available"', async () => {
      return expectCardState(page, "mock-oauth", "available");
    });

    await step("Connect → the full connect page", async () => {
      const link = connectLink(page, "mock-oauth");
      assert((await link.textContent()).trim() === "Connect", `link text is "${(await link.textContent()).trim()}"`);
      await link.click();
      await waitForPath(page, "/integrations/mock-oauth/connect");
      await expectText(page.locator("main h2, main h1"), "Connect Mock OAuth", "connect page heading");
      await shot(page, "08-nojs-connect-page");
    });

    await step("tick consent, Continue → the mock's consent page", async () => {
      await page.locator("input[name=consent]").check();
      await page.getByRole("button", { name: "Continue to Mock OAuth" }).click();
      await page.waitForURL((url) => url.origin === mockOrigin, { timeout: NAV_TIMEOUT_MS });
      await page.getByRole("button", { name: "Approve" }).waitFor();
    });

    await step(`Approve → callback "Connected as ${ACCOUNT}"`, async () => {
      await page.getByRole("button", { name: "Approve" }).click();
      await waitForPath(page, "/integrations/callback");
      await expectText(page.locator("main"), `Connected as ${ACCOUNT}`, "callback page");
    });

    await step('Back to integrations: card mock-oauth is "connected"', async () => {
      await page.getByRole("link", { name: "Back to integrations" }).click();
      await waitForPath(page, "/integrations");
      return expectCardState(page, "mock-oauth", "connected", `Connected as ${ACCOUNT}`);
    });

    let detailPath = null;
    await step("Manage → the integration page", async () => {
      await card(page, "mock-oauth").locator("a", { hasText: "Manage" }).click();
      await waitForPath(page, (p) => /^\/integrations\/[^/]+$/.test(p) && p !== "/integrations/callback", "/integrations/{id}");
      detailPath = pathOf(page);
      const title = await page.title();
      assert(title.includes("Mock OAuth"), `title is "${title}"`);
      const n = await page.locator('table.log tr[data-kind="connect"]').count();
      assert(n >= 1, `no tr[data-kind="connect"] in table.log`);
      return `${detailPath}, title "${title}"`;
    });

    await step(
      'Test connection (form POST) → a page with "OK … ms"',
      async () => {
        await page.locator("button#test-connection").click({ timeout: 3000 });
        await waitForPath(page, (p) => p !== detailPath, "the test result page");
        const text = await expectText(page.locator("main"), /\bOK\b[\s\S]*\d+\s*ms\b/, "test result page");
        return `${pathOf(page)}: ${text.replace(/\s+/g, " ").slice(0, 120)}`;
      },
      { soft: true },
    );

    await step("Disconnect → confirmation page → Disconnect", async () => {
      await page.goto(`${appOrigin}${detailPath}`);
      await page.locator(".actions").getByRole("link", { name: "Disconnect" }).click();
      await waitForPath(page, `${detailPath}/disconnect`);
      await expectText(page.locator("main"), "Disconnect Mock OAuth", "confirmation page");
      await page.locator("main form").getByRole("button", { name: "Disconnect" }).click();
      await waitForPath(page, "/integrations");
      const flash = await expectText(page.locator("main .alert"), "is disconnected", "flash message");
      const state = await expectCardState(page, "mock-oauth", "available");
      return `"${flash}"; ${state}`;
    });
    await context.close();
  });

  // 6. Keyboard only: Tab to mock-oauth's Connect, Enter opens the dialog, Escape closes it.
  await phase("Keyboard only: the connect dialog", async () => {
    const page = await jsContext.newPage();
    await step("open /integrations (JS on, signed in)", async () => {
      await page.goto(`${appOrigin}/integrations`);
      await waitForPath(page, "/integrations");
      await connectLink(page, "mock-oauth").waitFor();
    });

    const target = await connectLink(page, "mock-oauth").elementHandle();
    await step("Tab until the mock-oauth Connect link has focus", async () => {
      for (let presses = 1; presses <= 150; presses++) {
        await page.keyboard.press("Tab");
        if (await page.evaluate((el) => document.activeElement === el, target)) {
          return `${presses} Tab presses`;
        }
      }
      const active = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120));
      throw new Error(`never reached it in 150 presses; focus is on ${active}`);
    });

    await step("Enter opens the dialog with focus inside it", async () => {
      await page.keyboard.press("Enter");
      await page.locator("dialog[open]").waitFor({ state: "visible" });
      await page.waitForFunction(
        () => {
          const dialog = document.querySelector("dialog[open]");
          return dialog && dialog.contains(document.activeElement);
        },
        null,
        { timeout: STEP_TIMEOUT_MS, polling: 50 },
      );
      return `focus on ${await page.evaluate(() => document.activeElement.outerHTML.slice(0, 80))}`;
    });

    await step("Escape closes it and focus returns to the Connect link", async () => {
      await page.keyboard.press("Escape");
      await page.locator("dialog[open]").waitFor({ state: "detached" });
      await page.waitForFunction((el) => document.activeElement === el, target, { timeout: STEP_TIMEOUT_MS, polling: 50 }).catch(async () => {
        const active = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120));
        throw new Error(`focus is on ${active}`);
      });
    });
    await page.close();
  });

  // 7. Team: invite an admin, the invitee opens the one-time link in their own browser,
  // chooses a password, lands signed in; later signs in with it; the link opens nothing again.
  await phase("Team: invite -> set password -> sign in", async () => {
    const page = await jsContext.newPage();
    const INVITEE = "bob@e2e.example";
    const BOB_PASSWORD = "bob-Passw0rd-2026!long";
    let link = null;
    await step("Team page: invite by email, the link is shown once with a mailto:", async () => {
      await page.goto(`${appOrigin}/team`);
      await waitForPath(page, "/team");
      await page.getByLabel("Invite an admin by email").fill(INVITEE);
      await page.getByRole("button", { name: "Create invitation link" }).click();
      const input = page.locator("input[data-invite-link]");
      await input.waitFor();
      link = await input.inputValue();
      assert(link.startsWith(`${appOrigin}/invite/`), `link is ${link}`);
      const mailto = await page.getByRole("link", { name: "Write the email" }).getAttribute("href");
      assert(mailto.startsWith("mailto:bob%40e2e.example?subject="), `mailto is ${mailto}`);
      await shot(page, "12-team-invitation");
      return "pending invitation listed";
    });
    await page.close();

    const inviteeContext = await newContext({}, "invitee");
    const invitee = await inviteeContext.newPage();
    await step("the invitee opens the link and sets a password -> /integrations", async () => {
      await invitee.goto(link);
      await expectText(invitee.locator("main"), INVITEE, "invitation page");
      await invitee.locator("#password").fill(BOB_PASSWORD);
      await invitee.locator("#password_confirm").fill(BOB_PASSWORD);
      await invitee.getByRole("button", { name: "Become an admin" }).click();
      await waitForPath(invitee, "/integrations");
      await expectText(invitee.locator("header .who"), INVITEE, "signed-in email");
    });
    await step("signed out, the invitee signs in with the new password", async () => {
      await invitee.locator("header").getByRole("button", { name: "Sign out" }).click();
      await waitForPath(invitee, "/login");
      await invitee.locator("#email").fill(INVITEE);
      await invitee.locator("#password").fill(BOB_PASSWORD);
      await invitee.getByRole("button", { name: "Sign in", exact: true }).click();
      await waitForPath(invitee, "/integrations");
    });
    await step("the link opens nothing a second time", async () => {
      const response = await invitee.goto(link);
      assert(response.status() === 410, `status ${response.status()}`);
    });
    await step("the Team page lists both admins", async () => {
      await invitee.goto(`${appOrigin}/team`);
      await expectText(invitee.locator("main"), EMAIL, "Team page");
      await shot(invitee, "13-team");
    });
    await inviteeContext.close();
  });

  // 8. A phone's width: the pages reflow instead of scrolling sideways.
  await phase("Phone width (375 px)", async () => {
    const page = await jsContext.newPage();
    await page.setViewportSize({ width: 375, height: 812 });
    for (const [path, name] of [["/integrations", "09-phone-integrations"], ["/dashboard", "10-phone-health"], ["/audit", "11-phone-audit"], ["/team", "14-phone-team"], ["/account", "15-phone-account"]]) {
      await step(`${path} fits 375 px`, async () => {
        await page.goto(`${appOrigin}${path}`);
        await waitForPath(page, path);
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        await shot(page, name);
        if (width > 375) throw new Error(`the page is ${width} px wide`);
        return `${width} px`;
      });
    }
    await page.close();
  });

  clearTimeout(watchdog);
}

// ---------------------------------------------------------------------------------------

let exitCode = 0;
try {
  await main();
} catch (error) {
  if (!(error instanceof PhaseAbort)) {
    log(`FAIL ${firstLines(error, 30)}`);
    failures.push(firstLines(error).split("\n")[0]);
  }
} finally {
  await Promise.race([cleanup(), sleep(10_000)]);
}

if (warnings.length) {
  log(`warnings (${warnings.length}):`);
  for (const w of warnings) log(`  - ${w}`);
}
log(`screenshots (${screenshots.length}):`);
for (const s of screenshots) log(`  ${s}`);
if (failures.length) {
  exitCode = 1;
  log(`FAILED: ${failures.length} failure(s):`);
  for (const f of failures) log(`  - ${f}`);
  for (const entry of children) log(`--- last lines of ${entry.logPath}:\n${tail(entry.logPath)}`);
  if (tmp) log(`temp dir kept: ${tmp}`);
} else {
  log(`PASSED in ${secs(Date.now() - started)}`);
  if (tmp && !process.env.E2E_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
  else if (tmp) log(`temp dir kept: ${tmp}`);
}
process.exit(exitCode);
