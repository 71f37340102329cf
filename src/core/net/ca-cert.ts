// The --ca-cert file (a private CA the client trusts on top of the system's): read once, at
// start, so a bad path fails at once. Shared by the CLI client and the edge worker.

import { readFileSync } from "node:fs";
import { ConfigError } from "../errors.ts";

/** The file's PEM text; a ConfigError (exit 2) naming it when it is unreadable or holds no certificate. */
export function readCaCert(file: string): string {
  let ca: string;
  try {
    ca = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read --ca-cert ${file}: ${(err as Error).message}`, [{ path: "caCert", message: "unreadable" }]);
  }
  if (!ca.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ConfigError(`--ca-cert ${file} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----")`, [{ path: "caCert", message: "not PEM" }]);
  }
  return ca;
}
