import { describe, expect, test } from "bun:test";
import { NotFoundError } from "../../../src/core/errors.ts";
import { openStore } from "../../../src/store/open.ts";
import { dialects, freshStore } from "../../helpers/stores.ts";
import { definition, firstPage, userWithProject } from "./fixtures.ts";

describe.each(dialects)("commands on %s", (dialect) => {
  test("enqueue stores a PENDING command with its payload and an audit row; claim consumes it once", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, user } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
    const cmd = await store.commands.enqueue({ type: "START", projectId: project.id, workflowId: workflow.id, payload: { params: { day: "1" } } }, actor);
    expect(cmd).toMatchObject({ type: "START", state: "PENDING", workflowId: workflow.id, workflowInstanceId: null, payload: { params: { day: "1" } }, createdBy: user.id, consumedAt: null, consumedBy: null });
    expect(await store.commands.get(cmd.id)).toEqual(cmd);
    expect((await store.commands.listPending(10)).map((c) => c.id)).toEqual([cmd.id]);
    const audit = await store.audit.list({ ...firstPage, projectId: project.id });
    expect(audit.items[0]).toMatchObject({ action: "command.start", objectType: "command", objectId: String(cmd.id), details: { type: "START", workflowId: workflow.id } });

    const claimed = await store.commands.claim(cmd.id, "master-1");
    expect(claimed).toMatchObject({ id: cmd.id, state: "CONSUMED", consumedBy: "master-1" });
    expect(claimed?.consumedAt).toBeInstanceOf(Date);
    expect(await store.commands.claim(cmd.id, "master-2")).toBeNull();
    expect(await store.commands.claim(9999, "master-2")).toBeNull();
    expect((await store.commands.get(cmd.id))?.consumedBy).toBe("master-1");
    expect(await store.commands.listPending(10)).toEqual([]);
  });

  test("claimNext takes the oldest PENDING commands up to the limit, filtered by type, each once (CLAIMED)", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const ids: number[] = [];
    for (const type of ["START", "STOP", "START", "PAUSE", "START"] as const) ids.push((await store.commands.enqueue({ type, projectId: project.id }, actor)).id);
    expect((await store.commands.claimNext("m", 2)).map((c) => c.id)).toEqual([ids[0]!, ids[1]!]);
    expect((await store.commands.claimNext("m", 10, { types: ["START"] })).map((c) => c.id)).toEqual([ids[2]!, ids[4]!]);
    expect((await store.commands.claimNext("m", 10)).map((c) => [c.id, c.type, c.state])).toEqual([[ids[3]!, "PAUSE", "CLAIMED"]]);
    expect(await store.commands.claimNext("m", 10)).toEqual([]);
  });

  test("a command for a missing project or workflow is NotFoundError and stores nothing", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    await expect(store.commands.enqueue({ type: "START", projectId: 9999 }, actor)).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.commands.enqueue({ type: "START", projectId: project.id, workflowId: 777 }, actor)).rejects.toThrow("workflow 777");
    expect(await store.commands.listPending(10)).toEqual([]);
  });

  test("claimers racing on separate connections: every command is consumed exactly once", async () => {
    await using store = await freshStore(dialect);
    const { project, actor } = await userWithProject(store);
    const total = 60;
    for (let i = 0; i < total; i++) await store.commands.enqueue({ type: "START", projectId: project.id, payload: { i } }, actor);
    // On Postgres: two more stores on the same database, separate connection pools, as two masters
    // would be. bun:sqlite connections in one thread would block each other; there, the one
    // embedded store serves three claimers at once.
    const others = dialect === "postgres" ? await Promise.all([0, 1].map(() => openStore({ url: store.url, migrate: false }))) : [store, store];
    try {
      const claimers = [store, ...others].map(async (s, n) => {
        const got: number[] = [];
        for (let round = 0; ; round++) {
          const batch = await s.commands.claimNext(`m${n}`, 3);
          // Single claims race with the batch claims of the others on the same ids.
          const single = await s.commands.claim(((round * 7 + n * 13) % total) + 1, `m${n}`);
          for (const c of single ? [...batch, single] : batch) got.push(c.id);
          if (batch.length === 0 && (await s.commands.listPending(1)).length === 0) return got;
        }
      });
      const results = await Promise.all(claimers);
      const all = results.flat().sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      const owners = await Promise.all(all.map((id) => store.commands.get(id)));
      for (const [n, ids] of results.entries()) for (const id of ids) expect(owners[id - 1]?.consumedBy).toBe(`m${n}`);
    } finally {
      if (dialect === "postgres") await Promise.all(others.map((s) => s.close()));
    }
  });
});
