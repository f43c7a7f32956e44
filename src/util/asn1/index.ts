/** ASN.1 helpers with no domain: a bounded BER pre-parse, X.509 KeyUsage by name. */
export * from "./ber.js";
export { keyUsageOf } from "./key-usage.js";
