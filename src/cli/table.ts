/** Plain fixed-width tables for terminal output (no colours: output is often piped). */
import { alignColumns } from "../util/text.js";

export function renderTable(headers: string[], rows: string[][]): string {
  return alignColumns([headers, ...rows]).join("\n") + "\n";
}
