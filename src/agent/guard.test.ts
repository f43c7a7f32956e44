import { describe, expect, it } from "vitest";
import { checkRequest, digest, type GuardConfig, type RequestFacts } from "./guard.js";

const SECRET = "s3cr3t-s3cr3t-s3cr3t-0123456789";
const config: GuardConfig = {
  hosts: new Set(["127.0.0.1:4000", "localhost:4000"]),
  origins: new Set(["http://127.0.0.1:4000", "http://localhost:4000"]),
  secretDigest: digest(SECRET),
};
const ok: RequestFacts = {
  method: "POST",
  path: "/api/login",
  host: "127.0.0.1:4000",
  origin: "http://127.0.0.1:4000",
  authorization: `Bearer ${SECRET}`,
  contentType: "application/json; charset=utf-8",
};
const status = (r: Partial<RequestFacts>) => checkRequest({ ...ok, ...r }, config)?.status ?? 0;

describe("agent request guard", () => {
  it("lets a well-formed request through", () => {
    expect(checkRequest(ok, config)).toBeNull();
    expect(status({ method: "GET", path: "/api/keys", origin: undefined, contentType: undefined })).toBe(0);
  });

  it("refuses a foreign or missing Host (DNS rebinding) before anything else", () => {
    expect([
      status({ host: "evil.example:4000" }),
      status({ host: undefined }),
      status({ host: "127.0.0.1:4001" }),
    ]).toEqual([421, 421, 421]);
    expect(status({ host: "evil.example", authorization: undefined })).toBe(421);
  });

  it("needs the secret (401), compared whole", () => {
    expect(status({ authorization: undefined })).toBe(401);
    expect(status({ authorization: `Bearer ${SECRET}x` })).toBe(401);
    expect(status({ authorization: `bearer ${SECRET}` })).toBe(401);
    expect(status({ authorization: SECRET })).toBe(401);
    expect(status({ method: "GET", path: "/metrics", authorization: undefined })).toBe(401);
    expect(status({ method: "GET", path: "/api/events", authorization: "Bearer " })).toBe(401);
  });

  it("serves the page and its assets without the secret, but not with a foreign Origin", () => {
    const page = { method: "GET", authorization: undefined, origin: undefined, contentType: undefined };
    expect([status({ ...page, path: "/" }), status({ ...page, path: "/assets/app.js" })]).toEqual([0, 0]);
    expect(status({ ...page, path: "/", origin: "http://evil.example" })).toBe(403);
  });

  it("needs the agent's own Origin on state-changing requests", () => {
    expect(status({ origin: undefined })).toBe(403);
    expect(status({ origin: "http://evil.example" })).toBe(403);
    expect(status({ origin: "null" })).toBe(403);
    expect(status({ origin: "http://localhost:4000" })).toBe(0);
  });

  it("needs application/json (or the multipart upload of /api/verify and /api/destroy)", () => {
    expect(status({ contentType: "application/x-www-form-urlencoded" })).toBe(415);
    expect(status({ contentType: "text/plain" })).toBe(415);
    expect(status({ contentType: undefined })).toBe(415);
    expect(status({ contentType: "multipart/form-data; boundary=x" })).toBe(415);
    expect(
      ["/api/verify", "/api/destroy", "/api/export"].map((path) =>
        status({ path, contentType: "multipart/form-data; boundary=x" }),
      ),
    ).toEqual([0, 0, 415]);
  });
});
