/** PKCS#12 write and read (RFC 7292): profiles, PBES2, the Appendix B KDF, MAC, hostile-input limits. */
export { pkcs12Kdf, bmpPassword } from "./kdf.js";
export { DEFAULT_LIMITS, type ReadLimits } from "./limits.js";
export type { AlgorithmInfo } from "./pbe.js";
export { readPkcs12, type BagType, type MacInfo, type Pkcs12Contents, type ReadOptions } from "./read.js";
export { DEFAULT_MODERN_ITERATIONS, LEGACY_ITERATIONS, writePkcs12, type Profile, type WriteOptions } from "./write.js";
export { withDerivationCache } from "./derivation-cache.js";
