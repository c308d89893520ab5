// What a portal's front end does with the contract: a client generated from
// openapi/openapi.json (openapi-typescript) and openapi-fetch, one typed call at least for
// every tag, run against a real server with the demo data. If the contract changes in a way
// this code no longer matches (a field renamed, an operation typed as another, a value added
// to a closed set), `tsc` fails; if the server answers otherwise, the run fails.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/sa-benefits";

type Schemas = components["schemas"];
type Severity = Schemas["Severity"];
type BenefitStatus = Schemas["BenefitStatus"];
type EntryKind = Schemas["EntryKind"];
type PermissionStatus = Schemas["PermissionStatus"];

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
declare const process: { env: Record<string, string | undefined>; exit(code: number): never };

const baseUrl = env("SA_BASE_URL");
const ORG = env("SA_ORG");
const ACCOUNT = env("SA_ACCOUNT");
const PARTNER = env("SA_PARTNER");

function client(token: string, language: "en" | "fr" = "en") {
  const c = createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${token}`, "Accept-Language": language },
  });
  c.use({
    onRequest: () => {
      calls += 1;
      return undefined;
    },
  });
  return c;
}

const admin = client(env("SA_ADMIN_TOKEN"));
const adminFr = client(env("SA_ADMIN_TOKEN"), "fr");
const operator = client(env("SA_OPERATOR_TOKEN"));
const partner = client(env("SA_PARTNER_TOKEN"));

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** Exhaustive over the closed set: a new severity makes this fail to compile. */
function icon(severity: Severity): string {
  switch (severity) {
    case "info":
      return "ℹ";
    case "warning":
      return "⚠";
    case "action":
      return "⛔";
    default: {
      const unreachable: never = severity;
      return unreachable;
    }
  }
}

function isLive(status: BenefitStatus): boolean {
  return status === "active";
}

function sign(kind: EntryKind): "+" | "-" | "±" {
  switch (kind) {
    case "grant":
    case "release":
    case "voucher_revoked":
    case "conversion_in":
      return "+";
    case "consumption":
    case "voucher_assigned":
    case "voucher_expired":
    case "conversion_out":
    case "expiry":
      return "-";
    case "adjustment":
      return "±";
    default: {
      const unreachable: never = kind;
      return unreachable;
    }
  }
}

const seen: string[] = [];
let calls = 0;
function called(tag: string, what: string) {
  seen.push(tag);
  console.log(`  ${tag.padEnd(20)} ${what}`);
}

async function main() {
  // catalog
  const types = await admin.GET("/api/v1/benefit-types");
  check(types.data, `benefit types: ${types.response.status}`);
  called("catalog", `${types.data.items.length} benefit types`);

  // organizations
  const org = await admin.GET("/api/v1/organizations/{org_id}", { params: { path: { org_id: ORG } } });
  check(org.data, `organization: ${org.response.status}`);
  const accounts = await admin.GET("/api/v1/organizations/{org_id}/accounts", {
    params: { path: { org_id: ORG }, query: { limit: 10 } },
  });
  check(accounts.data, "accounts");
  called("organizations", `${org.data.name}, ${accounts.data.items.length} accounts`);

  // partners
  const created = await operator.POST("/api/v1/partners", {
    body: { name: "Tailspin Licensing" },
    headers: { "Idempotency-Key": `ts-partner-${Date.now()}` },
  });
  check(created.data, `create partner: ${created.response.status}`);
  called("partners", `created ${created.data.name} (${created.data.id})`);

  // benefits
  const mine = await admin.GET("/api/v1/accounts/{account_id}/benefits", {
    params: { path: { account_id: ACCOUNT } },
  });
  check(mine.data, "your benefits");
  const phone = mine.data.items.find((b) => b.type === "problem_resolution_phone");
  check(phone, "the demo's phone incidents");
  check(isLive(phone.status), "active");
  const alerts = mine.data.items.flatMap((b) => b.alerts.map((a) => `${icon(a.severity)} ${a.code}`));
  const other = await adminFr.GET("/api/v1/accounts/{account_id}/benefits/other", {
    params: { path: { account_id: ACCOUNT } },
  });
  check(other.data, "other benefits");
  const details = await admin.GET("/api/v1/benefits/{benefit_id}", {
    params: { path: { benefit_id: phone.id } },
  });
  check(details.data, "benefit details");
  called("benefits", `${mine.data.items.length} active, ${other.data.items.length} other, ${alerts.length} alerts`);

  // ledger
  const before = phone.remaining;
  check(typeof before === "number", "metered");
  const consumed = await admin.POST("/api/v1/benefits/{benefit_id}/consumptions", {
    params: { path: { benefit_id: phone.id } },
    headers: { "Idempotency-Key": `ts-consume-${Date.now()}` },
    body: { quantity: 1, reference: "INC-TS-0001" },
  });
  check(consumed.data, `consume: ${consumed.response.status} ${JSON.stringify(consumed.error)}`);
  const history = await admin.GET("/api/v1/benefits/{benefit_id}/transactions", {
    params: { path: { benefit_id: phone.id }, query: { limit: 5 } },
  });
  check(history.data, "history");
  const first = history.data.items[0];
  check(first, "an entry");
  const calculation = await admin.GET("/api/v1/benefits/{benefit_id}/calculation", {
    params: { path: { benefit_id: phone.id } },
  });
  check(calculation.data, "calculation");
  called("ledger", `consumed 1 (${before} → ${consumed.data.remaining ?? "?"}), last entry ${sign(first.kind)}${first.kind}`);

  // partner-permissions
  const permissions = await admin.GET("/api/v1/organizations/{org_id}/partner-permissions", {
    params: { path: { org_id: ORG } },
  });
  check(permissions.data, "permissions");
  const statuses: PermissionStatus[] = permissions.data.items.map((p) => p.status);
  const own = await partner.GET("/api/v1/partners/me/permissions");
  check(own.data, "partner's own permissions");
  check(own.data.items.every((p) => p.partner_id === PARTNER), "only its own");
  called("partner-permissions", `organization sees [${statuses.join(", ")}], partner sees ${own.data.items.length}`);

  // vouchers
  const training = mine.data.items.find((b) => b.type === "training_vouchers");
  check(training, "training vouchers");
  const vouchers = await admin.GET("/api/v1/benefits/{benefit_id}/vouchers", {
    params: { path: { benefit_id: training.id } },
  });
  check(vouchers.data, "vouchers");
  called("vouchers", vouchers.data.items.map((v) => v.status).join(", "));

  // conversions
  const quote = await admin.GET("/api/v1/accounts/{account_id}/conversions/quote", {
    params: { path: { account_id: ACCOUNT }, query: { direction: "forward", planning_days: 1 } },
  });
  check(quote.data, `quote: ${quote.response.status}`);
  called("conversions", `at most ${quote.data.max_planning_days} planning days`);

  // people
  const domains = await admin.GET("/api/v1/accounts/{account_id}/domains", {
    params: { path: { account_id: ACCOUNT } },
  });
  check(domains.data, "domains");
  const users = await admin.GET("/api/v1/benefits/{benefit_id}/users", {
    params: { path: { benefit_id: phone.id } },
  });
  check(users.data, "users");
  called("people", `${domains.data.items.map((d) => d.domain).join(", ")}; ${users.data.items.length} users`);

  // downloads
  const software = mine.data.items.find((b) => b.type === "multi_language_pack");
  check(software, "software");
  const downloads = await admin.GET("/api/v1/benefits/{benefit_id}/downloads", {
    params: { path: { benefit_id: software.id } },
  });
  check(downloads.data, "downloads");
  called("downloads", `${downloads.data.items.length} packages`);

  // records
  const audit = await admin.GET("/api/v1/organizations/{org_id}/audit-events", {
    params: { path: { org_id: ORG }, query: { limit: 3 } },
  });
  check(audit.data, "audit");
  called("records", `latest: ${audit.data.items.map((e) => e.action).join(", ")}`);

  // A refusal is typed too: problem+json with a stable code.
  const refused = await admin.POST("/api/v1/benefits/{benefit_id}/consumptions", {
    params: { path: { benefit_id: phone.id } },
    body: { quantity: 1_000_000 },
  });
  check(refused.error && refused.error.code === "not_enough_remaining", `refusal: ${JSON.stringify(refused.error)}`);

  const tags = new Set(seen);
  console.log(`TypeScript client (openapi-fetch): ${calls} typed calls covering ${tags.size} tags`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
