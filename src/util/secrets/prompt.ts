import { KeyportError } from "../errors.js";
import { SECRET_LINE_MAX } from "./secrets.js";

/** Reads a secret from the terminal without echo, into a Buffer (no readline history). */
export function promptHidden(question: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    const chunks: number[] = [];
    const wasRaw = stdin.isRaw;
    // no echo before the question shows: what is typed right after it must not appear
    stdin.setRawMode(true);
    stdin.resume();
    process.stderr.write(question);
    const done = (err?: Error) => {
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stdin.removeListener("data", onData);
      process.stderr.write("\n");
      if (err) {
        chunks.fill(0);
        reject(err);
      } else {
        const b = Buffer.from(Buffer.from(chunks).toString("latin1"), "latin1");
        chunks.fill(0);
        resolve(b);
      }
    };
    const onData = (data: Buffer) => {
      for (const byte of data) {
        if (byte === 0x0d || byte === 0x0a) return done();
        if (byte === 0x03) return done(new KeyportError("usage", "interrupted at the prompt: nothing was done"));
        if (byte === 0x7f || byte === 0x08) chunks.pop();
        else if (chunks.length >= SECRET_LINE_MAX) {
          data.fill(0);
          return done(new KeyportError("usage", `the typed line is too long (more than ${SECRET_LINE_MAX} bytes)`));
        } else chunks.push(byte);
      }
      data.fill(0);
    };
    stdin.on("data", onData);
  });
}

/** Asks a yes/no question on the terminal; resolves to the typed line. */
export function promptLine(question: string): Promise<string> {
  return new Promise((resolve) => {
    process.stderr.write(question);
    process.stdin.resume();
    process.stdin.once("data", (d: Buffer) => {
      process.stdin.pause();
      resolve(d.toString("utf8").trim());
    });
  });
}
