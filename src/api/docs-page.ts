// The API reference page served at /api/docs: one self-contained HTML document (no CDN, no
// external script or font: porpoise runs offline) whose small script reads the OpenAPI document
// next to it (v1/openapi.json, relative, so a path prefix of a reverse proxy keeps working) and
// renders every operation grouped by tag: method, path, operationId, who may call it, parameters,
// the request body's schema and example, the responses. Text goes in through textContent only,
// so nothing in the document can inject markup.

export const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>porpoise API reference</title>
<style>
  :root { --fg: #1d2630; --muted: #5b6773; --line: #d9dee3; --bg: #f7f9fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); }
  header { padding: 16px 24px; border-bottom: 1px solid var(--line); display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
  header h1 { margin: 0; font-size: 20px; }
  header input { margin-left: auto; padding: 6px 10px; min-width: 260px; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
  main { padding: 8px 24px 48px; max-width: 1100px; }
  h2 { margin: 28px 0 8px; font-size: 17px; text-transform: capitalize; }
  details.op { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; background: #fff; }
  details.op > summary { cursor: pointer; padding: 8px 12px; display: flex; gap: 10px; align-items: baseline; list-style: none; }
  details.op[open] > summary { border-bottom: 1px solid var(--line); background: var(--bg); }
  .method { font: 600 12px/1 ui-monospace, monospace; padding: 4px 6px; border-radius: 4px; color: #fff; min-width: 58px; text-align: center; }
  .GET { background: #2f6fb0; } .POST { background: #2e8b57; } .PUT { background: #b7791f; } .PATCH { background: #8a5cc2; } .DELETE { background: #c0392b; }
  .path { font-family: ui-monospace, monospace; }
  .sum { color: var(--muted); }
  .body { padding: 10px 14px; }
  .opid { font-family: ui-monospace, monospace; color: var(--muted); font-size: 13px; }
  table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 14px; }
  th, td { text-align: left; border-bottom: 1px solid var(--line); padding: 4px 8px; vertical-align: top; }
  pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 8px; overflow: auto; font-size: 13px; max-height: 420px; }
  h4 { margin: 10px 0 4px; font-size: 14px; }
  .meta { color: var(--muted); }
</style>
</head>
<body>
<header><h1 id="title">porpoise API reference</h1><span class="meta" id="meta"></span><input id="filter" type="search" placeholder="Filter: path, operationId, summary" aria-label="filter operations"></header>
<main id="ops"><p class="meta" id="status">Loading the OpenAPI document (v1/openapi.json)…</p>
<noscript><p>This page renders <a href="v1/openapi.json">v1/openapi.json</a> with a small script; without JavaScript read that document directly.</p></noscript></main>
<script>
"use strict";
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) if (k != null) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
};
const json = (v) => el("pre", {}, JSON.stringify(v, null, 2));
function table(head, rows) {
  return el("table", {}, el("tr", {}, ...head.map((h) => el("th", {}, h))), ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c)))));
}
function render(doc) {
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  const lic = doc.info.license ? " · license " + doc.info.license.name : "";
  document.getElementById("meta").textContent = "OpenAPI " + doc.openapi + lic + " · server " + ((doc.servers || [])[0] || { url: "/" }).url;
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method: method.toUpperCase(), op });
    }
  }
  const main = document.getElementById("ops");
  main.replaceChildren(el("p", { class: "meta" }, doc.info.description || ""));
  for (const [tag, ops] of byTag) {
    main.append(el("h2", { "data-tag": tag }, tag));
    for (const { path, method, op } of ops) {
      const body = el("div", { class: "body" }, el("div", { class: "opid" }, "operationId: " + op.operationId));
      if (op.description) body.append(el("p", {}, op.description));
      body.append(el("p", { class: "meta" }, op.security && op.security.length === 0 ? "No token needed." : "Send Authorization: Bearer <token>." + (op["x-project-role"] ? " Role: " + op["x-project-role"] + "." : "")));
      if ((op.parameters || []).length) {
        body.append(el("h4", {}, "Parameters"), table(["name", "in", "required", "type", "description"], op.parameters.map((p) => [p.name, p.in, p.required ? "yes" : "no", (p.schema && (p.schema.type || (p.schema.enum ? "enum" : ""))) || "", p.description || ""])));
      }
      if (op.requestBody) {
        const content = op.requestBody.content || {};
        body.append(el("h4", {}, "Request body (" + Object.keys(content).join(", ") + ")"));
        const first = Object.values(content)[0] || {};
        if (first.example !== undefined) body.append(el("div", { class: "meta" }, "Example"), json(first.example));
        body.append(el("details", {}, el("summary", {}, "Schema"), json(first.schema)));
      }
      body.append(el("h4", {}, "Responses"), table(["status", "description"], Object.entries(op.responses || {}).map(([s, r]) => [s, r.description || ""])));
      const ok = Object.entries(op.responses || {}).find(([s]) => s.startsWith("2"));
      const okSchema = ok && ok[1].content && ok[1].content["application/json"];
      if (okSchema) body.append(el("details", {}, el("summary", {}, "Response schema"), json(okSchema.schema)));
      const d = el("details", { class: "op", "data-search": (method + " " + path + " " + op.operationId + " " + (op.summary || "")).toLowerCase() },
        el("summary", {}, el("span", { class: "method " + method }, method), el("span", { class: "path" }, path), el("span", { class: "sum" }, op.summary || "")),
        body);
      main.append(d);
    }
  }
  if (doc.components && doc.components.schemas) {
    main.append(el("h2", {}, "schemas"));
    for (const [name, schema] of Object.entries(doc.components.schemas)) main.append(el("details", { class: "op", "data-search": name.toLowerCase() }, el("summary", {}, el("span", { class: "path" }, name)), el("div", { class: "body" }, json(schema))));
  }
}
document.getElementById("filter").addEventListener("input", (e) => {
  const q = e.target.value.trim().toLowerCase();
  for (const d of document.querySelectorAll("details.op")) d.hidden = q !== "" && !d.dataset.search.includes(q);
});
fetch("v1/openapi.json").then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); }).then(render).catch((err) => {
  document.getElementById("status").textContent = "Could not load v1/openapi.json: " + err.message;
});
</script>
</body>
</html>
`;
