/**
 * The request use-case (SPEC §5b): an enrollment key pair generated on the token and its PKCS#10
 * request signed there, or (existing) a new request signed by a key pair already there. The request
 * file appears only once it is complete; what exists at any point is the caller's to report.
 */
import { stageFile } from "../backup/index.js";
import {
  dnToName,
  KEY_TYPES,
  parseDn,
  parseSan,
  requestCertificate,
  requestWithExistingKey,
  sanToGeneralName,
  type RequestResult,
  type Usage,
} from "../enroll/index.js";
import { KeyportError } from "../util/errors.js";
import type { TokenAccess } from "./access.js";
import type { Warn } from "./tokens.js";

/** What the face was given, as text; prepareRequest checks it all before any module. */
export interface RequestInput {
  label: string;
  out: string;
  subject?: string;
  san: string[];
  usage: Usage;
  /** a new key pair (keyType, id, extractable), or none: existing */
  generate?: { keyType: string; id?: string; extractable: boolean };
}

export type PreparedRequest = ReturnType<typeof prepareRequest>;

/** The DN, SANs, key type and ID parsed (exit 2 on any), before any module, PIN or object. */
export function prepareRequest(r: RequestInput) {
  const subject = r.subject !== undefined ? dnToName(parseDn(r.subject)) : null;
  const san = r.san.map((s) => sanToGeneralName(parseSan(s)));
  const g = r.generate;
  const spec = g ? KEY_TYPES[g.keyType] : undefined;
  if (g && !spec) throw new KeyportError("usage", `unknown --key-type ${g.keyType}`);
  if (g && subject === null) throw new KeyportError("usage", "--subject is required to make a key pair");
  const id = g?.id !== undefined ? Buffer.from(g.id.replace(/:/g, ""), "hex") : undefined;
  return {
    label: r.label,
    out: r.out,
    subject,
    san,
    usage: r.usage,
    generate: g && spec ? { spec, id, extractable: g.extractable } : null,
  };
}

export interface RequestIo {
  warn: Warn;
  /** once the key pair exists and until its request is written: how to destroy it (for a signal) */
  armRollback: (fn: (() => number) | null) => void;
  /** the request file is written: from here on the key pair and the file both stay */
  onWritten: () => void;
}

export function requestKeyPair(access: TokenAccess, r: PreparedRequest, io: RequestIo): Promise<RequestResult> {
  const write = (pem: string) => {
    stageFile(r.out, Buffer.from(pem, "utf8"), false).publish();
    io.onWritten();
  };
  return access.run(
    async (s, inv) => {
      const g = r.generate;
      const result = g
        ? await requestCertificate(
            s,
            inv,
            {
              label: r.label,
              id: g.id,
              spec: g.spec,
              subject: r.subject!,
              san: r.san,
              usage: r.usage,
              extractable: g.extractable,
              write,
              armRollback: io.armRollback,
            },
            io.warn,
          )
        : await requestWithExistingKey(
            s,
            inv,
            { label: r.label, subject: r.subject, san: r.san, usage: r.usage, write },
            io.warn,
          );
      access.changed();
      return result;
    },
    { write: true, data: true },
  );
}

export { KEY_TYPE_NAMES, pairLeftLine, type RequestResult, type Usage } from "../enroll/index.js";
