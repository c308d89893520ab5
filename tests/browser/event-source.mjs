// A page on a loopback origin (its own port, so the stream is cross-origin, as a front end
// under development is) opens an EventSource on an organization's events; a consumption made
// through the API must appear on the page.
// Usage: node event-source.mjs <base-url> <token> <org-id> <benefit-id>
import { chromium } from "playwright-core";
import http from "node:http";

const [base, token, org, benefit] = process.argv.slice(2);
if (!base || !token || !org || !benefit) {
  console.error("usage: node event-source.mjs <base-url> <token> <org-id> <benefit-id>");
  process.exit(2);
}

const page_html = `<!doctype html><meta charset="utf-8"><title>Live events</title>
<ul id="events"></ul><p id="state">connecting</p>
<script>
  const source = new EventSource(${JSON.stringify(`${base}/api/v1/organizations/${org}/events?access_token=${token}`)});
  source.onopen = () => { document.getElementById("state").textContent = "open"; };
  source.onerror = () => { document.getElementById("state").textContent = "error"; };
  source.addEventListener("benefit.changed", (e) => {
    const data = JSON.parse(e.data);
    const li = document.createElement("li");
    li.textContent = e.lastEventId + " " + data.action + " " + data.resource.id;
    document.getElementById("events").appendChild(li);
  });
</script>`;
const server = http.createServer((_, res) => {
  res.writeHead(200, { "content-type": "text/html" });
  res.end(page_html);
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage();
  await page.goto(origin);
  await page.waitForFunction(() => document.getElementById("state").textContent === "open", null, { timeout: 10000 });
  const made = await fetch(`${base}/api/v1/benefits/${benefit}/consumptions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ quantity: 1, reference: "INC-LIVE-1" }),
  });
  if (made.status !== 201) throw new Error(`consumption: ${made.status} ${await made.text()}`);
  await page.waitForSelector("#events li", { timeout: 10000 });
  const shown = await page.textContent("#events li");
  if (!shown.includes("benefit_consumed") || !shown.includes(benefit)) {
    throw new Error(`unexpected event on the page: ${shown}`);
  }
  console.log(`EventSource on ${origin} received: ${shown}`);
} finally {
  await browser.close();
  server.close();
}
