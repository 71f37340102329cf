// Masters join and leave while 1,000 commands wait (issue 10, docs/architecture.md §3.3, §3.5):
// 1,000 ended instances of a one-noop workflow get a RERUN command each (written to the Store as
// the api writes them); meanwhile, every ~2 s a master joins, leaves with SIGTERM (releases its
// slots at once) or is killed -9 (its slots are taken over after the lease), for 25 s; then the
// masters left finish. A master claims only commands of instances in the slots it owns, so every
// slot move is a chance to consume a command twice or never. Checks: every command CONSUMED once —
// each instance reran exactly once (run_times 2, two attempts, SUCCESS) — and no slot ever had two
// owners at once, from the lease record (slot_lease_log: each epoch follows the previous one's
// release or expiry; overlaps() of coordinator-nodes.ts). A master killed -9 with commands CLAIMED
// leaves them to the next owner of their slots, which re-opens and carries them out (§3.5).
//
//   ./node_modules/.bin/bun test --timeout 60000 test/cluster/churn.test.ts

import { expect, test } from "bun:test";
import postgres from "postgres";
import { waitFor } from "../helpers/wait.ts";
import { type ClusterNode, startCluster } from "./cluster-harness.ts";
import { type LogRow, overlaps } from "./coordinator-nodes.ts";
import { nodeLines } from "./cluster-workload.ts";
import { slotOfInstance } from "../../src/coordinator/coordinator.ts";

const COMMANDS = 1000;
const CHURN_MS = 25_000;
const STEP_MS = 2000;

/** What the churn run left, for the second test (every command carried out). */
let outcome: { reranOnce: number; notCarriedOut: { id: number; consumed_by: string }[]; stranded: unknown[] } | null = null;

test("masters joining and leaving with 1,000 commands pending: each consumed once, none carried out twice, never two owners of a slot", async () => {
  await using c = await startCluster({ prefix: "porpoise-churn-", masters: 2, workers: 1, workerSlots: 8, lease: 3 });
  const sql = postgres(c.dbUrl, { max: 2, onnotice: () => {} });
  try {
    expect((await c.request("/projects", { method: "POST", json: { name: "etl" } })).status).toBe(201);
    const def = { name: "quick", tasks: [{ name: "t", type: "noop" }] };
    expect((await c.request("/projects/etl/workflows", { method: "POST", yaml: JSON.stringify(def) })).status).toBe(201);
    const template = ((await (await c.request("/projects/etl/workflows/quick/run", { method: "POST", json: {} })).json()) as { id: number }).id;
    await waitFor("the template run to succeed", async () => (await c.store.instances.get(template))?.state === "SUCCESS", 60_000, 50);

    // 999 copies of the ended run (and its attempt), each on the slot its id hashes to, at epoch 0
    // (a row epoch above its slot lease's would fence every write of the owner out).
    const slotCount = Number((await sql`SELECT count(*)::int AS n FROM slot_leases`)[0]!.n);
    expect(slotCount).toBeGreaterThan(1);
    const cols = async (table: string, skip: string[]) =>
      (await sql<{ column_name: string }[]>`SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ${table} ORDER BY ordinal_position`)
        .map((r) => r.column_name)
        .filter((n) => !skip.includes(n));
    const wi = (await cols("workflow_instances", ["id"])).map((n) => `"${n}"`).join(", ");
    const copies = await sql.unsafe<{ id: string }[]>(`INSERT INTO workflow_instances (${wi}) SELECT ${wi} FROM workflow_instances, generate_series(1, ${COMMANDS - 1}) WHERE id = $1 RETURNING id::text`, [template]);
    const ids = [template, ...copies.map((r) => Number(r.id))];
    await sql`UPDATE workflow_instances w SET slot = v.slot, epoch = 0 FROM unnest(${sql.array(ids)}::bigint[], ${sql.array(ids.map((id) => slotOfInstance(id, slotCount)))}::int[]) AS v(id, slot) WHERE w.id = v.id`;
    const ti = (await cols("task_instances", ["id", "workflow_instance_id", "slot"])).map((n) => `"${n}"`).join(", ");
    await sql.unsafe(
      `INSERT INTO task_instances (workflow_instance_id, slot, ${ti}) SELECT w.id, w.slot, ${ti.split(", ").map((n) => `t.${n}`).join(", ")} FROM task_instances t, workflow_instances w WHERE t.workflow_instance_id = $1 AND w.id = ANY($2::bigint[])`,
      [template, copies.map((r) => Number(r.id))],
    );
    const inst = (await c.store.instances.get(template))!;

    // The churn: a step every STEP_MS, rotating join / kill -9 / join / SIGTERM (at least one master left, at most 4).
    const live: ClusterNode[] = [...c.masters];
    const actions: string[] = [];
    let churning = true;
    const churn = (async () => {
      const kinds = ["join", "SIGKILL", "join", "SIGTERM"] as const;
      for (let step = 0; churning; step++) {
        await Bun.sleep(STEP_MS);
        if (!churning) break;
        let kind: (typeof kinds)[number] = kinds[step % kinds.length]!;
        if (kind !== "join" && live.length <= 1) kind = "join";
        if (kind === "join" && live.length >= 4) kind = "SIGTERM";
        const pending = Number((await sql`SELECT count(*)::int AS n FROM commands WHERE state <> 'CONSUMED'`)[0]!.n);
        if (kind === "join") {
          const m = await c.addMaster();
          live.push(m);
          actions.push(`+${m.id} (${pending} pending)`);
        } else {
          const m = live.splice(Math.floor(Math.random() * live.length), 1)[0]!;
          m.signal(kind);
          actions.push(`${kind === "SIGTERM" ? "-" : "x"}${m.id} (${pending} pending)`);
        }
      }
    })();

    // 1,000 RERUN commands, as the api writes them (store.commands.enqueue), 20 at a time.
    const t0 = Date.now();
    const actor = { userId: null, userName: "churn-test" };
    for (let i = 0; i < ids.length; i += 20) {
      await Promise.all(ids.slice(i, i + 20).map((id) => c.store.commands.enqueue({ type: "RERUN", projectId: inst.projectId, workflowId: inst.workflowId, workflowInstanceId: id }, actor)));
    }
    const enqueuedMs = Date.now() - t0;
    await Bun.sleep(Math.max(0, CHURN_MS - (Date.now() - t0)));
    // On a loaded box the enqueue alone can outlast CHURN_MS: churn on until a kill -9 and a SIGTERM both happened.
    while (!(actions.some((a) => a.startsWith("x")) && actions.some((a) => a.startsWith("-")))) await Bun.sleep(200);
    churning = false;
    await churn;

    const settled = await waitFor(
      "every command consumed and every rerun ended",
      async () => {
        const pending = (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM commands WHERE state <> 'CONSUMED'`)[0]!.n;
        const running = (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM workflow_instances WHERE id = ANY(${sql.array(ids)}::bigint[]) AND state NOT IN ('SUCCESS', 'FAILURE', 'STOP', 'PAUSE')`)[0]!.n;
        return pending === 0 && running === 0 ? Date.now() : null;
      },
      180_000,
      500,
    ).catch(async (err) => {
      const states = await sql`SELECT state, run_times, count(*)::int AS n FROM workflow_instances GROUP BY 1, 2`;
      const cmds = await sql`SELECT state, count(*)::int AS n FROM commands GROUP BY 1`;
      console.log(nodeLines(c, /WARN|ERROR/).slice(0, 30).join("\n"));
      console.log(`actions: ${actions.join(" ")}; lost: ${JSON.stringify(await sql`SELECT c.id, c.consumed_by, c.consumed_at FROM commands c JOIN workflow_instances w ON w.id = c.workflow_instance_id WHERE w.run_times < 2`)}`);
      console.log(JSON.stringify(await sql`SELECT w.id, w.slot, w.state, t.state AS task_state, t.attempt, t.host FROM workflow_instances w JOIN task_instances t ON t.workflow_instance_id = w.id WHERE w.state NOT IN ('SUCCESS', 'FAILURE') LIMIT 10`));
      console.log(`slots of what is left: ${JSON.stringify(await sql`SELECT w.slot, l.owner, c.state, count(*)::int AS n FROM commands c JOIN workflow_instances w ON w.id = c.workflow_instance_id LEFT JOIN slot_leases l ON l.slot = w.slot WHERE c.state <> 'CONSUMED' GROUP BY 1, 2, 3 ORDER BY 1`)}`);
      console.log(`busy connections: ${JSON.stringify(await sql`SELECT pid, state, wait_event_type, wait_event, now() - xact_start AS in_tx, left(query, 160) AS query FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle' AND pid <> pg_backend_pid()`)}`);
      for (const m of live) console.log((m.proc.stdout() + m.proc.stderr()).split("\n").filter((l) => /command|slots|store/i.test(l)).slice(-12).map((l) => `${m.id}: ${l}`).join("\n"));
      throw new Error(`${(err as Error).message}: instances ${JSON.stringify(states)}, commands ${JSON.stringify(cmds)}; live masters ${live.map((m) => m.id)}`);
    });

    const commands = await sql<{ state: string; n: number; consumers: number }[]>`SELECT state, count(*)::int AS n, count(DISTINCT consumed_by)::int AS consumers FROM commands WHERE type = 'RERUN' GROUP BY state`;
    // Attempts that ran (a DISPATCH row no worker ever took, host null, ran nothing: checked by the last test).
    const runs = await sql<{ state: string; run_times: number; attempts: number; n: number }[]>`
      SELECT w.state, w.run_times, (SELECT count(*)::int FROM task_instances t WHERE t.workflow_instance_id = w.id AND NOT (t.state = 'DISPATCH' AND t.host IS NULL)) AS attempts, count(*)::int AS n
      FROM workflow_instances w WHERE w.id = ANY(${sql.array(ids)}::bigint[]) GROUP BY 1, 2, 3`;
    const log = await sql<LogRow[]>`SELECT id::int, slot, owner, epoch, kind, at, expires_at, prev_owner, prev_expires_at FROM slot_lease_log`;
    const problems = overlaps(log);
    const kinds: Record<string, number> = {};
    for (const r of log) kinds[r.kind] = (kinds[r.kind] ?? 0) + 1;
    console.log(
      `churn: ${COMMANDS} RERUN commands enqueued in ${enqueuedMs} ms while masters changed every ${STEP_MS / 1000} s for ${CHURN_MS / 1000} s: ${actions.join(" ")}; ` +
        `all consumed and rerun ${((settled - t0) / 1000).toFixed(1)} s after the first; commands ${JSON.stringify(commands)}; instances ${JSON.stringify(runs)}; ` +
        `slot_lease_log ${log.length} rows ${JSON.stringify(kinds)} over ${slotCount} slots, ${problems.length} overlaps`,
    );
    const notCarriedOut = await sql<{ id: number; consumed_by: string }[]>`SELECT c.id::int, c.consumed_by FROM commands c JOIN workflow_instances w ON w.id = c.workflow_instance_id WHERE w.run_times < 2 ORDER BY c.id`;
    const stranded = await sql`SELECT t.workflow_instance_id::int AS instance, t.attempt, w.state FROM task_instances t JOIN workflow_instances w ON w.id = t.workflow_instance_id WHERE w.id = ANY(${sql.array(ids)}::bigint[]) AND t.state = 'DISPATCH' AND t.host IS NULL ORDER BY 1, 2`;
    outcome = { reranOnce: runs.filter((r) => r.run_times === 2 && r.attempts === 2).reduce((n, r) => n + r.n, 0), notCarriedOut, stranded: [...stranded] };
    console.log(`commands consumed but not carried out: ${notCarriedOut.length} ${JSON.stringify(notCarriedOut.slice(0, 20))}`);
    const losers = new Set(notCarriedOut.map((r) => `${r.consumed_by}:`));
    console.log(nodeLines(c, /command|give|shutdown|exiting|closing|ERROR/i).filter((l) => [...losers].some((p) => l.startsWith(p))).slice(0, 20).join("\n"));
    // An attempt more than the runs (a rerun attempt that ran again): which, and what its nodes said about it.
    const extra = await sql`SELECT t.workflow_instance_id::int AS instance, t.attempt, t.state, t.host, t.message FROM task_instances t WHERE t.workflow_instance_id IN (SELECT w.id FROM workflow_instances w WHERE w.id = ANY(${sql.array(ids)}::bigint[]) AND (SELECT count(*) FROM task_instances x WHERE x.workflow_instance_id = w.id) > w.run_times) ORDER BY 1, 2`;
    if (extra.length > 0) console.log(`extra attempts: ${JSON.stringify(extra)}\n${nodeLines(c, /gone|NEED_FAULT|interrupted|lease|refused|stale/i).slice(0, 20).join("\n")}`);
    // Consumed once: every command CONSUMED, no instance reran twice (run_times 3 or a third attempt that ran), all ended SUCCESS.
    expect(commands.map((r) => ({ state: r.state, n: r.n }))).toEqual([{ state: "CONSUMED", n: COMMANDS }]);
    expect(runs.filter((r) => r.state !== "SUCCESS" || r.run_times > 2 || r.attempts > r.run_times)).toEqual([]);
    expect(problems).toEqual([]);
    expect(actions.filter((a) => a.startsWith("x")).length).toBeGreaterThan(0);
    expect(actions.filter((a) => a.startsWith("-")).length).toBeGreaterThan(0);
  } finally {
    await sql.end({ timeout: 5 });
  }
}, 330_000);

// A master killed -9 between claiming commands and carrying them out used to lose them (up to
// COMMAND_BATCH per kill: the claim made them CONSUMED). Claims are CLAIMED until their effect
// commits, and the next owner of the slot re-opens them (docs/architecture.md §3.5).
test("masters joining and leaving: every consumed command is carried out, also across kill -9", () => {
  expect(outcome).not.toBeNull();
  expect(outcome!.notCarriedOut).toEqual([]);
  expect(outcome!.reranOnce).toBe(COMMANDS);
});

// Seen before (1 of 3 CI-like runs on 2 cores, once in 7 at load ~25): a rerun's first attempt
// inserted DISPATCH by a master whose slot moved in that instant; the new owner started the task
// again as a further attempt and the first one stayed DISPATCH, never run (host null). The cause:
// a master giving slots to a joining one released them while its group commit, past the fence's
// check, had not committed; the new owner loaded the instance without that write. The
// coordinator now waits for the master's commit in flight before releasing (SlotListener;
// coordinator-postgres.test.ts shows the wait). 4 of 4 runs at load ~10 had none stranded.
test("masters joining and leaving: a rerun leaves no attempt stranded in DISPATCH", () => {
  expect(outcome).not.toBeNull();
  expect(outcome!.stranded).toEqual([]);
});
