// The 10-task DAG of the crash tests (kill -9 of `porpoise all`, the cluster's failover tests):
// a → (b, c) → d → e → f → (g, h) → i → j, two diamonds on a chain, so a crash lands on fan-out,
// fan-in and plain edges alike.

export const TWO_DIAMONDS: [string, string[]][] = [
  ["a", []],
  ["b", ["a"]],
  ["c", ["a"]],
  ["d", ["b", "c"]],
  ["e", ["d"]],
  ["f", ["e"]],
  ["g", ["f"]],
  ["h", ["f"]],
  ["i", ["g", "h"]],
  ["j", ["i"]],
];
