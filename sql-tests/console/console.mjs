// Looks at one page of Strata's web console in headless Chromium (Debian's
// /usr/bin/chromium, or CHROMIUM) and prints what its DOM shows as JSON, for
// sql-tests/tests/operations.rs to assert on.
//
//   node console.mjs inspect <url> <screenshot.png>
//       the statement, its stages (id, status, tasks done of total), the
//       graph's edges and progress bars, whether a Cancel button shows
//   node console.mjs cancel <url> <screenshot.png>
//       clicks Cancel and waits until the page shows the statement ended
//
// STRATA_CONSOLE_USER / STRATA_CONSOLE_PASSWORD log in with HTTP Basic.
import { chromium } from "playwright-core";

const [command, url, screenshot] = process.argv.slice(2);
if (!command || !url || !screenshot) {
  console.error("usage: node console.mjs inspect|cancel <url> <screenshot.png>");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const user = process.env.STRATA_CONSOLE_USER;
  const context = await browser.newContext({
    viewport: { width: 1400, height: 900 },
    httpCredentials: user
      ? { username: user, password: process.env.STRATA_CONSOLE_PASSWORD || "" }
      : undefined,
  });
  const page = await context.newPage();
  const response = await page.goto(url, { waitUntil: "load" });
  if (!response || response.status() !== 200) {
    throw new Error(`GET ${url}: HTTP ${response && response.status()}`);
  }
  await page.waitForSelector("#summary");
  if (command === "cancel") {
    await page.click("#cancel");
    // The page reloads every second while the statement runs.
    await page.waitForFunction(
      () => {
        const summary = document.querySelector("#summary");
        return summary && summary.dataset.state !== "running";
      },
      null,
      { timeout: 30000 },
    );
  } else if (command !== "inspect") {
    throw new Error(`unknown command ${command}`);
  }
  const facts = await page.evaluate(() => {
    const summary = document.querySelector("#summary");
    return {
      title: document.title,
      state: summary ? summary.dataset.state : null,
      job: document.querySelector("#job")?.textContent ?? null,
      sql: document.querySelector("#sql")?.textContent ?? null,
      stages: [...document.querySelectorAll("#stage-graph g.stage")].map((g) => ({
        id: Number(g.dataset.stageId),
        status: g.dataset.status,
        done: Number(g.dataset.done),
        total: Number(g.dataset.total),
        bar: Number(g.querySelector("rect.bar")?.getAttribute("width") ?? -1),
      })),
      edges: document.querySelectorAll("#stage-graph line.edge").length,
      progressBars: document.querySelectorAll("#stages progress").length,
      cancelButton: document.querySelector("#cancel") !== null,
      error: document.querySelector("#error")?.textContent ?? null,
    };
  });
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify(facts));
} finally {
  await browser.close();
}
