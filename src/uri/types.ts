/** The decoded shape of a PKCS#11 URI (RFC 7512); absent attributes match anything. */
export type ObjectType = "private" | "public" | "cert" | "secret-key" | "data";

export interface Pkcs11Uri {
  // path attributes, percent-decoded as UTF-8; `id` stays raw bytes
  token?: string;
  manufacturer?: string;
  serial?: string;
  model?: string;
  libraryManufacturer?: string;
  libraryDescription?: string;
  libraryVersion?: string;
  slotDescription?: string;
  slotManufacturer?: string;
  slotId?: number;
  object?: string;
  type?: ObjectType;
  id?: Buffer;
  // query attributes
  pinSource?: string;
  pinValue?: string;
  moduleName?: string;
  modulePath?: string;
}
