/**
 * A small JSON parser that remembers the line each object starts on, so a policy file's
 * errors can name their line (JSON.parse's messages do not reliably carry a position).
 */
export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

export interface ParsedJson {
  value: unknown;
  lineOf: WeakMap<object, number>;
}

export function parseJsonWithLines(text: string): ParsedJson {
  let i = 0;
  const lineOf = new WeakMap<object, number>();
  const where = (pos: number) => {
    const before = text.slice(0, pos);
    const line = before.split("\n").length;
    return { line, column: pos - before.lastIndexOf("\n") };
  };
  const fail = (what: string): never => {
    const { line, column } = where(i);
    throw new JsonSyntaxError(what, line, column);
  };
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i]!)) i++;
  };
  const value = (depth: number): unknown => {
    if (depth > 64) fail("nesting too deep");
    ws();
    const c = text[i];
    if (c === "{") return object(depth);
    if (c === "[") return array(depth);
    if (c === '"') return string();
    const lit = /^(true|false|null|-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(i, i + 40));
    if (!lit) return fail(c === undefined ? "unexpected end of file" : `unexpected character '${c}'`);
    i += lit[0].length;
    return lit[0] === "true" ? true : lit[0] === "false" ? false : lit[0] === "null" ? null : Number(lit[0]);
  };
  const string = (): string => {
    const m = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/.exec(text.slice(i));
    if (!m) return fail("bad string");
    i += m[0].length;
    return JSON.parse(m[0]) as string;
  };
  const object = (depth: number): Record<string, unknown> => {
    const start = where(i).line;
    i++;
    const o: Record<string, unknown> = {};
    lineOf.set(o, start);
    ws();
    if (text[i] === "}") {
      i++;
      return o;
    }
    for (;;) {
      ws();
      if (text[i] !== '"') fail("expected a property name in double quotes");
      const k = string();
      ws();
      if (text[i] !== ":") fail("expected ':'");
      i++;
      o[k] = value(depth + 1);
      ws();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "}") {
        i++;
        return o;
      }
      fail("expected ',' or '}'");
    }
  };
  const array = (depth: number): unknown[] => {
    const start = where(i).line;
    i++;
    const a: unknown[] = [];
    lineOf.set(a, start);
    ws();
    if (text[i] === "]") {
      i++;
      return a;
    }
    for (;;) {
      a.push(value(depth + 1));
      ws();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "]") {
        i++;
        return a;
      }
      fail("expected ',' or ']'");
    }
  };
  const v = value(0);
  ws();
  if (i < text.length) fail("unexpected text after the end");
  return { value: v, lineOf };
}
