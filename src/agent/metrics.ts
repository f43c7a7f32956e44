/**
 * /metrics (SPEC §5) with prom-client: the audit families from the same code as `keyport audit
 * --format prometheus`, plus the agent's counters. A scrape never logs in: it counts the keys
 * visible without login, and the audit of the tokens the user logged in to.
 */
import { Counter, Gauge, Registry } from "prom-client";
import { auditFamilies, type PromFamily } from "../audit/index.js";
import type { TokenPool } from "./pool.js";

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly gauges = new Map<string, Gauge>();
  readonly exports: Counter<"result">;
  readonly scrapeErrors: Counter;

  constructor(private readonly pool: TokenPool) {
    this.exports = new Counter({
      name: "keyport_exports_total",
      help: "exports the agent ran, by result",
      labelNames: ["result"],
      registers: [this.registry],
    });
    for (const r of ["exported", "refused", "failed"] as const) this.exports.inc({ result: r }, 0);
    this.scrapeErrors = new Counter({
      name: "keyport_scrape_errors_total",
      help: "tokens whose keys could not be read for a scrape",
      registers: [this.registry],
    });
  }

  private gauge(f: PromFamily): Gauge {
    let g = this.gauges.get(f.name);
    if (!g) {
      g = new Gauge({ name: f.name, help: f.help, labelNames: f.labelNames, registers: [this.registry] });
      this.gauges.set(f.name, g);
    }
    return g;
  }

  /** Reads the current state into the gauges and renders the registry. */
  async scrape(): Promise<string> {
    const entries = this.pool.all();
    const readable = [];
    for (const e of entries) {
      try {
        e.token.refresh(); // the PIN flags of now (C_GetTokenInfo), not of when the token appeared
        // the report of one token at a time: a token that fails is counted, the others still shown
        await this.pool.report([e], new Date());
        readable.push(e);
      } catch {
        this.scrapeErrors.inc();
      }
    }
    const report = await this.pool.report(readable, new Date());
    const families = auditFamilies(
      entries.map((e) => e.description),
      report,
    );
    for (const f of families) {
      const g = this.gauge(f);
      g.reset();
      for (const s of f.samples) g.set(s.labels, s.value);
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
