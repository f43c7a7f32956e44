/**
 * /metrics (SPEC §5) with prom-client: the audit families from the same code as `keyport audit
 * --format prometheus`, plus the agent's counters. A scrape never logs in: it counts the keys
 * visible without login, and the audit of the tokens the user logged in to. The values come from
 * the backend worker: those it pushed when nothing changed since, else read again there.
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { PromFamily } from "../audit/index.js";
import type { BackendState } from "./backend/protocol.js";

/** The values a scrape renders: the audit families read (not null), the counters' totals. */
export type MetricValues = BackendState & { families: PromFamily[] };

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly gauges = new Map<string, Gauge>();
  private readonly exports: Counter<"result">;
  private readonly scrapeErrors: Counter;

  constructor(private readonly values: () => Promise<MetricValues>) {
    this.exports = new Counter({
      name: "keyport_exports_total",
      help: "exports the agent ran, by result",
      labelNames: ["result"],
      registers: [this.registry],
    });
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

  /** Sets the gauges and counters from the backend's values and renders the registry. */
  async scrape(): Promise<string> {
    const v = await this.values();
    // the counters are the worker's totals: set, not added to
    this.exports.reset();
    for (const r of ["exported", "refused", "failed"] as const) this.exports.inc({ result: r }, v.exports[r]);
    this.scrapeErrors.reset();
    this.scrapeErrors.inc(v.scrapeErrors);
    for (const f of v.families) {
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
