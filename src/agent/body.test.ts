import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { AJV, parseJsonBody, secretBodies, secretField } from "./body.js";

describe("agent request bodies", () => {
  it("parses pin and password into Buffers and zero-fills the raw body", () => {
    const raw = Buffer.from(JSON.stringify({ token: "pkcs11:token=a", pin: "1234", password: "pw", other: "x" }));
    const body = parseJsonBody(raw);
    expect(body).toEqual({
      token: "pkcs11:token=a",
      pin: Buffer.from("1234"),
      password: Buffer.from("pw"),
      other: "x",
    });
    expect(raw.equals(Buffer.alloc(raw.length))).toBe(true);
  });

  it("zero-fills the secrets after the handler, and refuses a secret of the wrong type (not coerced)", async () => {
    const app = Fastify({ ajv: AJV });
    secretBodies(app);
    const seen: Buffer[] = [];
    app.post<{ Body: { pin: Buffer } }>(
      "/t",
      { schema: { body: { type: "object", additionalProperties: false, properties: { pin: secretField(1, 16) } } } },
      async (req) => {
        seen.push(req.body.pin);
        return { length: req.body.pin.length };
      },
    );
    const ok = await app.inject({ method: "POST", url: "/t", payload: { pin: "123456" } });
    const number = await app.inject({ method: "POST", url: "/t", payload: { pin: 123456 } });
    const extra = await app.inject({ method: "POST", url: "/t", payload: { pin: "1", pni: "2" } });
    expect([ok.statusCode, ok.json(), number.statusCode, extra.statusCode]).toEqual([200, { length: 6 }, 400, 400]);
    expect(seen).toEqual([Buffer.alloc(6)]);
    await app.close();
  });
});
