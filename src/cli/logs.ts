// `porpoise logs TASK_INSTANCE_ID [-f]`: the log of one attempt, as pages of whole lines; with
// -f the server streams new lines (Server-Sent Events) until the attempt ends.

import type { ApiClient } from "./client.ts";

const PAGE_BYTES = 1024 * 1024;

export async function logsCommand(deps: {
  api: ApiClient;
  id: number;
  follow: boolean;
  write: (text: string) => void;
  signal?: AbortSignal;
}): Promise<number> {
  const { api, id, write } = deps;
  if (deps.follow) {
    for await (const text of api.followLog(id, deps.signal)) write(text);
    return 0;
  }
  // Fails with 404 for an unknown id before anything is printed.
  for (let offset = 0; ; ) {
    const page = await api.log(id, offset, PAGE_BYTES);
    write(page.text);
    // Nothing new (an unfinished last line of a running attempt is left for later): done.
    if (page.nextOffset <= offset || page.nextOffset >= page.size) return 0;
    offset = page.nextOffset;
  }
}
