import { describe, expect, it } from "vitest";
import { KeyportError } from "../util/errors.js";
import { allowedHosts, allowedOrigins, isLoopback, parseAddress, parseListen } from "./address.js";

const usageCode = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof KeyportError ? e.code : "other";
  }
  return "none";
};

describe("agent addresses", () => {
  it.each([
    ["127.0.0.1:8080", { host: "127.0.0.1", port: 8080 }],
    ["127.1.2.3:0", { host: "127.1.2.3", port: 0 }],
    ["[::1]:9000", { host: "::1", port: 9000 }],
    ["localhost:65535", { host: "localhost", port: 65535 }],
  ])("--listen %s is loopback", (text, want) => {
    expect(parseListen(text)).toEqual(want);
  });

  it.each([
    "0.0.0.0:8080",
    "192.168.1.10:80",
    "[::]:80",
    "example.com:80",
    "[fe80::1]:80",
  ])("--listen %s is refused (exit 2): not loopback", (text) => {
    expect(usageCode(() => parseListen(text))).toBe("usage");
  });

  it.each([
    "8080",
    "127.0.0.1",
    "127.0.0.1:65536",
    ":80",
    "[127.0.0.1]:80",
    "127.0.0.1:80x",
  ])("%s is not HOST:PORT", (text) => {
    expect(usageCode(() => parseAddress(text, "--listen"))).toBe("usage");
  });

  it("--metrics-listen may name any address", () => {
    expect(parseAddress("0.0.0.0:9464", "--metrics-listen")).toEqual({ host: "0.0.0.0", port: 9464 });
  });

  it("knows loopback addresses", () => {
    expect(["127.0.0.1", "127.255.0.1", "::1", "::ffff:127.0.0.1", "localhost"].map(isLoopback)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(["10.0.0.1", "::", "0.0.0.0", "localhost.example.com"].map(isLoopback)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });

  it("answers to its loopback names on its own port only", () => {
    const hosts = allowedHosts("127.0.0.1", 4321);
    expect([...hosts].sort()).toEqual(["127.0.0.1:4321", "[::1]:4321", "localhost:4321"]);
    expect([...allowedOrigins(hosts)].sort()).toEqual([
      "http://127.0.0.1:4321",
      "http://[::1]:4321",
      "http://localhost:4321",
    ]);
    expect([...allowedHosts("::1", 80)].sort()).toEqual(["127.0.0.1:80", "[::1]:80", "localhost:80"]);
  });
});
