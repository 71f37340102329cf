// The MACs of the Redis Bus envelopes (src/bus/signing.ts) and of the Cache values
// (src/cache/signed-values.ts) are HMAC-SHA256 of the cluster secret, computed with Bun's keyed
// CryptoHasher for speed. Pinned here against node:crypto's createHmac (the RFC 2104
// construction) and one RFC 4231 test vector: nodes of different builds must agree byte for byte,
// and a forged body or another purpose must not verify.

import { expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { createSigner } from "../../src/bus/signing.ts";
import { ValueSigner } from "../../src/cache/signed-values.ts";

const SECRET = "cluster-secret-for-the-mac-test";
const bodies = ["", "x", '{"kind":"done","taskInstanceId":1}', "ünïcødé ✓ 🐬", "a".repeat(10_000)];

test("bus envelopes carry HMAC-SHA256(secret, purpose \\n body), verified over the exact bytes", () => {
  const signer = createSigner(SECRET);
  for (const body of bodies) {
    for (const purpose of ["ready", "event:7", "pub:porpoise.wake"]) {
      const envelope = JSON.parse(signer.seal(purpose, body)) as { sig: string; body: string };
      expect(envelope.sig).toBe(createHmac("sha256", SECRET).update(`${purpose}\n${body}`).digest("hex"));
      expect(signer.open(purpose, JSON.stringify(envelope))).toEqual({ ok: true, body });
      expect(signer.open(purpose === "ready" ? "event:7" : "ready", JSON.stringify(envelope))).toEqual({ ok: false, reason: "forged" });
      expect(signer.open(purpose, JSON.stringify({ ...envelope, body: `${body} ` }))).toEqual({ ok: false, reason: "forged" });
    }
  }
});

test("the keyed CryptoHasher both use is HMAC-SHA256: RFC 4231 test case 2", () => {
  const mac = new Bun.CryptoHasher("sha256", "Jefe").update("what do ya want for nothing?").digest("hex");
  expect(mac).toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
});

test("cache values carry HMAC-SHA256(secret, tag + key length + key + value), base64url", () => {
  const signer = new ValueSigner(SECRET);
  for (const value of bodies) {
    const stored = signer.encode("porpoise:cache:dispatch:42", value);
    const tag = stored[0]!;
    const mac = createHmac("sha256", SECRET).update(`${tag}${"porpoise:cache:dispatch:42".length}:porpoise:cache:dispatch:42${value}`).digest("base64url");
    expect(stored).toBe(`${tag}${mac}${value}`);
  }
});
