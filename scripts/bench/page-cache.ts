// The idle RSS of a porpoise process depends on how the kernel holds its executable's pages:
// most of a node's RSS is file-backed executable pages (README, Idle RSS). Measured on this
// machine (2026-12-06, 1 api + 1 master + 1 worker): a binary written minutes before read
// 66.6 / 60.9 / 66.0 MB, the same file once its pages had been dropped and read back from disk
// 61.1 / 54.6 / 60.3 MB — a just-written file sits in the page cache in large folios, and each
// page fault then maps more of it. A deployed binary is in the second state after a reboot or
// once its pages have left the cache, and a bench that builds before it measures is always in the
// first. So the RSS benches drop the binary's pages before each start (GNU dd's nocache flags:
// fdatasync, then POSIX_FADV_DONTNEED on the whole file; no root needed) and say so in the row's note.

/** Writes the file's dirty pages back and drops its pages from the page cache; false when that did not work. */
export function dropFromPageCache(path: string): boolean {
  const run = (args: string[]) => Bun.spawnSync(["dd", ...args, "count=0", "status=none"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
  return run([`of=${path}`, "oflag=nocache", "conv=notrunc,fdatasync"]) && run([`if=${path}`, "iflag=nocache"]);
}

/** What the RSS rows' notes say about the binary's pages. */
export const pageCacheNote = (dropped: boolean) =>
  dropped ? "binary's pages dropped from the page cache before each start (as read from disk)" : "could not drop the binary's pages (no GNU dd): a just-built binary reads ~5 MB higher";
