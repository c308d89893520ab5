// Swagger UI in a real browser: opens /swagger-ui/, clicks Authorize, pastes a demo token,
// runs "Try it out" on "your benefits" and checks a 200 with data. Saves a screenshot.
// Usage: node swagger-ui.mjs <base-url> <token> <account-id> <screenshot.png>
import { chromium } from "playwright-core";

const [base, token, account, screenshot] = process.argv.slice(2);
if (!base || !token || !account || !screenshot) {
  console.error("usage: node swagger-ui.mjs <base-url> <token> <account-id> <screenshot.png>");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1800 } });
  await page.goto(`${base}/swagger-ui/`, { waitUntil: "networkidle" });
  await page.waitForSelector(".swagger-ui .info .title", { timeout: 20000 });
  const title = await page.textContent(".swagger-ui .info .title");
  if (!title.includes("SA Benefits")) throw new Error(`unexpected title: ${title}`);

  // Authorize with the Bearer token.
  await page.click("button.authorize");
  await page.fill("#auth-bearer-value", token);
  await page.click(".modal-ux button.authorize");
  await page.locator(".modal-ux button", { hasText: "Logout" }).waitFor({ timeout: 5000 });
  await page.click(".modal-ux button.btn-done");

  // Try it out on GET /api/v1/accounts/{account_id}/benefits.
  const operation = page.locator(".opblock-get", {
    has: page.locator('.opblock-summary-path[data-path="/api/v1/accounts/{account_id}/benefits"]'),
  });
  await operation.locator(".opblock-summary").click();
  const tryOut = operation.locator("button.try-out__btn");
  await tryOut.waitFor({ timeout: 10000 });
  // The page opens with "Try it out" already on (the button then reads "Cancel").
  if ((await tryOut.textContent()).trim() === "Try it out") await tryOut.click();
  await operation.locator("button.execute").waitFor({ timeout: 10000 });
  await operation.locator('tr[data-param-name="account_id"] input').fill(account);
  await operation.locator("button.execute").click();
  const status = operation.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor({ timeout: 15000 });
  const code = (await status.textContent()).trim();
  const body = await operation.locator(".live-responses-table .response-col_description pre").first().textContent();
  await operation.scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot, fullPage: false });
  if (!code.startsWith("200")) throw new Error(`Try it out answered ${code}: ${body}`);
  const items = JSON.parse(body).items;
  if (!Array.isArray(items) || items.length === 0) throw new Error(`no benefits in ${body}`);
  console.log(`Swagger UI: authorized, "Try it out" answered ${code} with ${items.length} benefits (${items.map((b) => b.type).join(", ")}); screenshot ${screenshot}`);
} finally {
  await browser.close();
}
