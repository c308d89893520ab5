// A small typed client built only from the generated types: if the contract changes in a
// way this code no longer matches (a field renamed, a required one added), `tsc` fails.
import type { components, paths } from "./generated/sa-benefits";

type Schemas = components["schemas"];
type BenefitList = Schemas["BenefitList"];
type Problem = Schemas["Problem"];
type ConsumptionBody = Schemas["ConsumptionBody"];
type LedgerChange = Schemas["LedgerChange"];
type Quote = Schemas["QuoteView"];

type AccountBenefits = paths["/api/v1/accounts/{account_id}/benefits"]["get"];
type Consume = paths["/api/v1/benefits/{benefit_id}/consumptions"]["post"];

export class SaBenefitsClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly language: "en" | "fr" = "en",
  ) {}

  private async call<T>(method: string, path: string, body?: unknown, key?: string): Promise<T> {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.token}`,
      "Accept-Language": this.language,
    };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (key !== undefined) headers["Idempotency-Key"] = key;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(`${this.baseUrl}${path}`, init);
    if (!response.ok) {
      const problem = (await response.json()) as Problem;
      throw new Error(`${problem.status} ${problem.code}: ${problem.detail}`);
    }
    return (await response.json()) as T;
  }

  /** "Your benefits" of a purchasing account, every page. */
  async yourBenefits(
    accountId: AccountBenefits["parameters"]["path"]["account_id"],
  ): Promise<BenefitList["items"]> {
    const all: BenefitList["items"] = [];
    let cursor: string | null | undefined = undefined;
    do {
      const query: string = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
      const page: BenefitList = await this.call<BenefitList>("GET", `/api/v1/accounts/${accountId}/benefits${query}`);
      all.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return all;
  }

  /** Records a consumption, safely retried with the same idempotency key. */
  consume(
    benefitId: Consume["parameters"]["path"]["benefit_id"],
    body: ConsumptionBody,
    idempotencyKey: string,
  ): Promise<LedgerChange> {
    return this.call<LedgerChange>("POST", `/api/v1/benefits/${benefitId}/consumptions`, body, idempotencyKey);
  }

  /** How many planning days the account's training days could become. */
  quoteForward(accountId: string): Promise<Quote> {
    return this.call<Quote>("GET", `/api/v1/accounts/${accountId}/conversions/quote?direction=forward`);
  }
}

/** What a portal screen would show: the benefits with less than 10% left. */
export async function lowBenefits(client: SaBenefitsClient, accountId: string): Promise<string[]> {
  const benefits = await client.yourBenefits(accountId);
  return benefits
    .filter((b) => b.remaining !== null && b.remaining !== undefined && b.quantity ? b.remaining * 10 < b.quantity : false)
    .map((b) => `${b.name}: ${b.remaining} ${b.unit_label} left (${b.alerts.map((a) => a.code).join(", ")})`);
}

export async function openIncident(client: SaBenefitsClient, benefitId: string): Promise<number | null | undefined> {
  const change = await client.consume(benefitId, { quantity: 1, reference: "INC-1", note: "Outage" }, crypto.randomUUID());
  const kind: string = change.transaction.kind;
  return kind === "consumption" ? change.remaining : null;
}
