/** CSV for every listing (SPEC §2 --format csv), with the audit's quoting and formula guard. */
import { csvCell } from "../audit/index.js";

export function renderCsv(headers: string[], rows: Array<Array<string | number | boolean | null>>): string {
  return [headers.join(","), ...rows.map((r) => r.map(csvCell).join(","))].join("\r\n") + "\r\n";
}
