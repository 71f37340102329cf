// How a user runs porpoise again, for the hints the CLI prints (`full log: … logs 12 …`): a hint
// must name a command that works where the user is (issue 11 papercut). From a source checkout
// that is `npx porpoise` (package.json's bin, run with the project's own bun); a built executable
// is named as it was started — `porpoise` when installed under that name, else its path.

import { basename, isAbsolute, relative } from "node:path";

export function selfCommand(argv1: string | undefined, execPath: string, cwd: string): string {
  if (argv1 !== undefined && /(^|[/\\])src[/\\]main\.ts$/.test(argv1)) return "npx porpoise";
  const exe = basename(execPath);
  if (exe === "porpoise") return "porpoise";
  if (exe === "bun" || exe === "node") return argv1 ? `${exe} ${shortPath(argv1, cwd)}` : "porpoise";
  return shortPath(execPath, cwd);
}

function shortPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return path;
  return `./${rel}`;
}

/** The hint's server part: the URL, and the token by its variable (never the token itself). */
export function serverFlags(baseUrl: string): string {
  return `--server ${baseUrl} --token "$PORPOISE_TOKEN"`;
}

/** A message whose quoted commands (`Run "porpoise all --help"`) name how the user runs porpoise. */
export function withSelf(message: string, self: string): string {
  return self === "porpoise" ? message : message.replaceAll('"porpoise ', `"${self} `);
}
