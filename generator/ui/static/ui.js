// aiar ui: the little JavaScript the pages use. Every page works without it (forms post, pages reload).
"use strict";
(function () {
  const csrf = document.body.dataset.csrf;

  // Dashboard: replace the rows every 5 s.
  const rows = document.querySelector("#rows[data-poll]");
  if (rows) {
    setInterval(async () => {
      if (document.activeElement && rows.contains(document.activeElement)) return;  // not under the keyboard
      const r = await fetch(rows.dataset.poll, {headers: {"Accept": "text/html"}});
      if (r.ok) rows.innerHTML = await r.text();
    }, 5000);
  }

  // Copy buttons and confirmations (delegated: the rows are replaced).
  document.addEventListener("click", async (e) => {
    const copy = e.target.closest("button.copy");
    if (copy) {
      try { await navigator.clipboard.writeText(copy.dataset.copy); copy.textContent = "Copied"; }
      catch (_) { window.prompt("Copy the URL:", copy.dataset.copy); }
    }
    const go = e.target.closest("button.goto");
    if (go) gotoLine(Number(go.dataset.line), Number(go.dataset.col));
  });
  document.addEventListener("submit", (e) => {
    const msg = e.target.dataset.confirm;
    if (msg && !window.confirm(msg)) e.preventDefault();
  });

  // Manifest editor: validate as you type (aiar's validator, on the server), show line:col.
  const editor = document.querySelector("textarea[data-validate]");
  const live = document.getElementById("live-problems");
  const cursor = document.getElementById("cursor");
  function gotoLine(line, col) {
    const lines = editor.value.split("\n");
    let at = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) at += lines[i].length + 1;
    at += Math.max(col - 1, 0);
    editor.focus();
    editor.setSelectionRange(at, at);
    showCursor();
  }
  function showCursor() {
    const before = editor.value.slice(0, editor.selectionStart).split("\n");
    cursor.textContent = `line ${before.length}, column ${before[before.length - 1].length + 1}`;
  }
  if (editor) {
    let timer = null;
    const check = async () => {
      const body = new URLSearchParams({manifest: editor.value, csrf: csrf});
      const r = await fetch(editor.dataset.validate, {method: "POST", body: body, headers: {"X-CSRF-Token": csrf}});
      if (!r.ok) return;
      const result = await r.json();
      live.replaceChildren();
      if (result.ok) {
        const p = document.createElement("p"); p.className = "ok"; p.textContent = "No problems."; live.append(p);
        return;
      }
      const ul = document.createElement("ul"); ul.className = "problems-list";
      for (const p of result.problems) {
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button"; b.className = "goto"; b.dataset.line = p.line || 1; b.dataset.col = p.col || 1;
        b.textContent = `${p.line || "-"}:${p.col || "-"}`;
        const code = document.createElement("code"); code.textContent = p.pointer || "/";
        li.append(b, " ", code, " " + p.message);
        ul.append(li);
      }
      live.append(ul);
    };
    editor.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 300); });
    editor.addEventListener("keyup", showCursor);
    editor.addEventListener("click", showCursor);
  }

  // Apply progress: poll the job's new lines.
  const log = document.querySelector("#job-log[data-poll]");
  const state = document.getElementById("job-state");
  if (log && state.dataset.state === "running") {
    let next = Number(log.dataset.next);
    const timer = setInterval(async () => {
      const r = await fetch(`${log.dataset.poll}?since=${next}`);
      if (!r.ok) return;
      const job = await r.json();
      for (const line of job.lines) log.append(line + "\n");
      log.scrollTop = log.scrollHeight;
      next = job.next;
      if (job.state !== "running") {
        clearInterval(timer);
        state.textContent = job.state; state.dataset.state = job.state;
        const list = document.getElementById("job-problems");
        for (const p of job.problems) { const li = document.createElement("li"); const c = document.createElement("code"); c.textContent = p; li.append(c); list.append(li); }
        if (job.state === "done") document.getElementById("job-done").hidden = false;
      }
    }, 1000);
  }

  // Dataset upload with a progress bar.
  const form = document.getElementById("dataset-form");
  if (form) {
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const bar = document.getElementById("upload-progress");
      const status = document.getElementById("upload-status");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      bar.hidden = false;
      xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) { bar.value = Math.round(100 * ev.loaded / ev.total); status.textContent = `${bar.value}% sent`; } };
      xhr.onload = () => {
        if (xhr.getResponseHeader("Content-Type").startsWith("application/json")) {
          window.location = JSON.parse(xhr.responseText).redirect;
        } else { document.open(); document.write(xhr.responseText); document.close(); }
      };
      xhr.onerror = () => { status.textContent = "upload failed"; };
      xhr.send(new FormData(form));
    });
  }
})();
