// Which OS user a task's processes run as (docs/architecture.md §3.9; DolphinScheduler's tenants).
//
// porpoise running as root starts shell and python tasks as an unprivileged user: the project's
// tenant when an admin set one, else the default task user (--task-user, `nobody` by default: it
// exists on Debian, Alpine and RHEL alike and owns nothing). uid 0 is refused unless the operator
// passed --allow-root-tasks. A user that does not exist fails the attempt, naming the user.
// porpoise not running as root cannot switch: tasks run as porpoise's own user (one warning at
// start says so, see modes/task-isolation.ts) and a tenant gets a line in the task log.
//
// The switch itself is Bun.spawn's uid/gid options (process-threads.ts), which setgid/setuid in
// the child before exec and drop root's supplementary groups (checked: /proc/<child>/status
// "Groups:" is empty even when porpoise has some). Measured on the shared 2-core box, 600 ×
// `bash script.sh` from two helper threads, 4 at a time each: plain 317-340/s, uid/gid
// 295-345/s (no measurable cost), a `setpriv --reuid --regid --clear-groups` wrapper in argv
// 155-179/s (one more exec per task halves shell throughput). The cost: a tenant's
// supplementary groups are not applied (Bun has no initgroups); only its primary group is.

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

/** Who the attempt runs as. `switchUser` false: porpoise's own uid (not root, or root allowed). */
export interface RunAs extends OsUser {
  switchUser: boolean;
}

export type TaskIdentity =
  | { ok: true; runAs: RunAs; /** a line for the task log (e.g. a tenant that could not be applied) */ note?: string }
  | { ok: false; reason: "unknown-user" | "root" | "lookup-failed"; message: string };

export interface RunAsPolicy {
  /** porpoise's own user: only uid 0 can switch. */
  self: OsUser;
  /** --task-user */
  defaultUser: string;
  /** --allow-root-tasks */
  allowRoot: boolean;
  /** Looks an OS user up by name; null when there is none. Default: getent, then /etc/passwd. */
  lookup?: (name: string) => Promise<OsUser | null>;
}

export type IdentityResolver = (tenant: string | null) => Promise<TaskIdentity>;

export function canSwitchUsers(self: OsUser): boolean {
  return self.uid === 0;
}

export function createIdentityResolver(policy: RunAsPolicy): IdentityResolver {
  const lookup = policy.lookup ?? cachedLookup(lookupOsUser);
  const self: RunAs = { ...policy.self, switchUser: false };
  return async (tenant) => {
    if (!canSwitchUsers(policy.self)) {
      if (tenant === null || tenant === policy.self.name) return { ok: true, runAs: self };
      return { ok: true, runAs: self, note: `tenant "${tenant}" not applied: porpoise runs as "${policy.self.name}", not root, so it cannot switch users; the task runs as "${policy.self.name}"` };
    }
    const name = tenant ?? policy.defaultUser;
    const what = tenant !== null ? `the project's tenant "${name}"` : `the default task user "${name}" (--task-user)`;
    let user: OsUser | null;
    try {
      user = await lookup(name);
    } catch (err) {
      return { ok: false, reason: "lookup-failed", message: `cannot look up ${what}: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (user === null) return { ok: false, reason: "unknown-user", message: `${what} is not an OS user on this worker: create it (useradd), or change the project's tenant` };
    if (user.uid === 0) {
      if (!policy.allowRoot) return { ok: false, reason: "root", message: `refused to run the task as ${what}: it is root (uid 0), and tasks run as root only when porpoise is started with --allow-root-tasks` };
      return { ok: true, runAs: { ...user, switchUser: user.uid !== policy.self.uid } };
    }
    return { ok: true, runAs: { ...user, switchUser: true } };
  };
}

const USER_CACHE_MS = 10_000;

/** Remembers answers (found or not) for 10 s: a user added later is seen soon, without a process per attempt. */
export function cachedLookup(lookup: (name: string) => Promise<OsUser | null>): (name: string) => Promise<OsUser | null> {
  const cache = new Map<string, { at: number; user: Promise<OsUser | null> }>();
  return (name) => {
    const hit = cache.get(name);
    if (hit && Date.now() - hit.at < USER_CACHE_MS) return hit.user;
    if (cache.size > 1000) cache.clear();
    const user = lookup(name);
    cache.set(name, { at: Date.now(), user });
    user.catch(() => cache.delete(name));
    return user;
  };
}

/** One passwd line (`name:x:uid:gid:gecos:home:shell`) → the user, or null when malformed. */
export function parsePasswdLine(line: string): OsUser | null {
  const f = line.split(":");
  if (f.length < 7) return null;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || f[2] === "" || f[3] === "") return null;
  return { name: f[0]!, uid, gid };
}

// getent answers from every NSS source (files, LDAP, sssd…); where it is missing (a minimal
// image), /etc/passwd is read directly.
async function lookupOsUser(name: string): Promise<OsUser | null> {
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  try {
    proc = Bun.spawn(["getent", "passwd", name], { stdin: "ignore", stdout: "pipe", stderr: "ignore", env: { PATH: "/usr/bin:/bin" } });
  } catch {
    proc = null;
  }
  if (proc !== null) {
    const text = await new Response(proc.stdout as ReadableStream).text();
    const code = await proc.exited;
    if (code === 2) return null; // "key not found"
    if (code === 0) return parsePasswdLine(text.split("\n")[0] ?? "");
  }
  const passwd = await Bun.file("/etc/passwd").text();
  for (const line of passwd.split("\n")) {
    if (line.startsWith(`${name}:`)) return parsePasswdLine(line);
  }
  return null;
}
