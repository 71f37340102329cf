// The Server-Sent Events reader behind `porpoise logs -f`, fed byte streams cut at awkward places.

import { describe, expect, test } from "bun:test";
import { readSse, type SseEvent } from "../../src/cli/client-sse.ts";

function stream(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const chunk of chunks) c.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
      c.close();
    },
  });
}

async function all(chunks: (string | Uint8Array)[]): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const e of readSse(stream(chunks))) out.push(e);
  return out;
}

describe("readSse", () => {
  test("data lines join with newlines; ids and comments are skipped; a named end event with data", async () => {
    const text = 'id: 10\ndata: first line\ndata: second line\n\n: keep-alive\n\nevent: end\ndata: {"ended":true}\n\n';
    expect(await all([text])).toEqual([
      { event: "message", data: "first line\nsecond line" },
      { event: "end", data: '{"ended":true}' },
    ]);
  });

  test("the same events whatever the chunking, CRLF included, UTF-8 split inside a character", async () => {
    const text = "data: über\r\ndata:no space\r\n\r\nevent: end\n\n";
    const bytes = new TextEncoder().encode(text);
    const expected = [
      { event: "message", data: "über\nno space" },
      { event: "end", data: "" },
    ];
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(await all([bytes.slice(0, cut), bytes.slice(cut)])).toEqual(expected);
    }
    expect(await all([...text].map((ch) => ch))).toEqual(expected);
  });

  test("a stream cut mid-event still delivers its data; an empty stream yields nothing", async () => {
    expect(await all(["data: last words"])).toEqual([{ event: "message", data: "last words" }]);
    expect(await all([])).toEqual([]);
  });

  test("an abort ends the iteration", async () => {
    const stop = new AbortController();
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new TextEncoder().encode("data: tick\n\n"));
        return new Promise((r) => setTimeout(r, 1));
      },
    });
    let n = 0;
    for await (const _ of readSse(endless, stop.signal)) if (++n === 3) stop.abort();
    expect(n).toBe(3);
  });
});
