// The log of one attempt: followed live (SSE, GET /task-instances/:id/log?follow=1) while it
// runs, read by pages when it has ended, and downloadable as a file (fetched with the token).

import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api.ts";
import { ErrorBox } from "../components.tsx";
import { openStream } from "../sse.ts";
import type { Task } from "../types.ts";

const PAGE = 1 << 20;

export function LogViewer({ task }: { task: Task }) {
  const [text, setText] = useState("");
  const [follow, setFollow] = useState(true);
  const [status, setStatus] = useState("");
  const [error, setError] = useState<unknown>(null);
  const pre = useRef<HTMLPreElement>(null);

  useEffect(() => {
    setText("");
    setError(null);
    const ctl = new AbortController();
    if (follow) {
      setStatus("following…");
      openStream(`/task-instances/${task.id}/log?follow=1`, {
        signal: ctl.signal,
        onEvent: (e) => {
          if (e.event === "message") setText((t) => `${t}${e.data}\n`);
          else if (e.event === "end") setStatus("the attempt has ended");
          else if (e.event === "error") setError(new Error(e.data));
        },
      });
    } else {
      setStatus("");
      void readAll(task.id, ctl.signal).then(setText, (err) => !ctl.signal.aborted && setError(err));
    }
    return () => ctl.abort();
  }, [task.id, follow]);

  useEffect(() => {
    if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text]);

  const download = async () => {
    try {
      const all = await readAll(task.id);
      const a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob([all], { type: "text/plain" }));
      a.download = `${task.taskName}-${task.id}-attempt${task.attempt}.log`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section aria-label={`log of ${task.taskName} attempt ${task.attempt}`}>
      <h2>Log: {task.taskName} (attempt {task.attempt})</h2>
      <div class="row">
        <label class="row"><input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> Follow live</label>
        <button type="button" onClick={download}>Download</button>
        <span class="muted" aria-live="polite">{status}</span>
      </div>
      <ErrorBox error={error} />
      <pre ref={pre} class="code log" data-testid="log" tabIndex={0}>{text}</pre>
    </section>
  );
}

async function readAll(id: number, signal?: AbortSignal): Promise<string> {
  let offset = 0;
  let out = "";
  for (;;) {
    const page = await api<{ text: string; nextOffset: number; size: number }>("GET", `/task-instances/${id}/log?offset=${offset}&limit=${PAGE}`, undefined, { signal });
    out += page.text;
    if (page.nextOffset === offset || page.nextOffset >= page.size) return out;
    offset = page.nextOffset;
  }
}
