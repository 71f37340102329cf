// Worker tokens and edge worker rows (migration 0017) on both dialects: tokens are stored hashed,
// scoped, expire, revoke (audited); a register takes the worker id over from the old session; a
// heartbeat of the old session is refused; ages are on the database clock.

import { describe, expect, test } from "bun:test";
import { NotFoundError } from "../../../src/core/errors.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { system } from "./fixtures.ts";

const sha256 = (token: string) => new Bun.CryptoHasher("sha256").update(token).digest("hex");
const ref = { taskInstanceId: 7, workflowInstanceId: 3, slot: 1, epoch: 0, attempt: 1, token: "t" };

describe.each(dialects)("edge workers on %s", (dialect) => {
  test("a worker token authenticates until it expires or is revoked; creation and revocation are audited", async () => {
    await using store = await freshStore(dialect);
    const expiresAt = new Date(Date.UTC(2030, 0, 1));
    const token = await store.workerTokens.create({ name: "pis", groups: ["edge", "lab"], labels: { site: "3" }, tokenHash: sha256("secret-1"), prefix: "pp_abc", expiresAt }, system);
    expect(token).toMatchObject({ name: "pis", groups: ["edge", "lab"], labels: { site: "3" }, prefix: "pp_abc", revokedAt: null });
    expect((await store.workerTokens.authenticate(sha256("secret-1"), new Date(Date.UTC(2029, 0, 1))))?.id).toBe(token.id);
    expect(await store.workerTokens.authenticate(sha256("secret-1"), expiresAt)).toBeNull();
    expect(await store.workerTokens.authenticate(sha256("other"), new Date(Date.UTC(2029, 0, 1)))).toBeNull();
    // An api token's hash is not a worker token, and the reverse: two tables.
    expect(await store.tokens.authenticate(sha256("secret-1"), new Date(Date.UTC(2029, 0, 1)))).toBeNull();
    const revoked = await store.workerTokens.revoke(token.id, system);
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    expect((await store.workerTokens.revoke(token.id, system)).revokedAt).toEqual(revoked.revokedAt);
    expect(await store.workerTokens.authenticate(sha256("secret-1"), new Date(Date.UTC(2029, 0, 1)))).toBeNull();
    await expect(store.workerTokens.revoke(token.id + 100, system)).rejects.toBeInstanceOf(NotFoundError);
    const audit = (await store.audit.list({ limit: 10, offset: 0 })).items.map((a) => a.action);
    expect(audit.filter((a) => a.startsWith("worker_token."))).toEqual(["worker_token.revoke", "worker_token.create"]);
    expect(JSON.stringify(await store.audit.list({ limit: 10, offset: 0 }))).not.toContain(sha256("secret-1"));
  });

  test("a register takes the worker id over; the old session's heartbeat is refused; ages are measured", async () => {
    await using store = await freshStore(dialect);
    const token = await store.workerTokens.create({ name: "pis", groups: ["edge"], labels: {}, tokenHash: sha256("s"), prefix: "pp_s", expiresAt: null }, system);
    const w = { id: "pi-1", tokenId: token.id, host: "pi", version: "0.1.0", arch: "arm64", platform: "linux", groups: ["edge"], slots: 2 };
    await store.edgeWorkers.register({ ...w, session: "pi-1.a" });
    expect(await store.edgeWorkers.heartbeat("pi-1", "pi-1.a", [ref])).toBe(true);
    expect((await store.edgeWorkers.get("pi-1"))?.running).toEqual([ref]);
    await store.edgeWorkers.register({ ...w, session: "pi-1.b" });
    expect(await store.edgeWorkers.heartbeat("pi-1", "pi-1.a", [])).toBe(false);
    const row = (await store.edgeWorkers.list())[0]!;
    expect(row).toMatchObject({ id: "pi-1", session: "pi-1.b", arch: "arm64", groups: ["edge"], running: [] });
    expect(row.heartbeatAgeMs).toBeGreaterThanOrEqual(0);
    await Bun.sleep(30);
    expect((await store.edgeWorkers.get("pi-1"))!.heartbeatAgeMs).toBeGreaterThanOrEqual(20);
    expect(await store.edgeWorkers.heartbeat("pi-1", "pi-1.b", [])).toBe(true);
    expect(await store.edgeWorkers.get("nope")).toBeNull();
  });
});
