"""Task pools for a crowd (seed 004): a training pool of known labels with hints, an exam pool,
and the production pool of the items to label, cut into pages with one honeypot (a known
label) each; written as CSV, as Toloka-style TSV and as a static page for in-house annotation.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from underspec.errors import UnderspecError


@dataclass
class ExportOptions:
    """How the pools are cut.

    Parameters
    ----------
    overlap : int
        How many different workers answer each production page.
    page_size : int
        Tasks per production page, its honeypot included.
    training, exam : int
        Known items in the training pool (shown with a hint) and in the exam pool.
    url_prefix : str
        Put before ``images/<file>.png`` in the TSV's ``INPUT:image`` (where the images will be
        served from); the CSV and the HTML page use the relative path.
    seed : int
    """

    overlap: int = 3
    page_size: int = 50
    training: int = 20
    exam: int = 20
    url_prefix: str = ""
    seed: int = 0


def build_pools(send: list, known: pd.Series, options: ExportOptions) -> pd.DataFrame:
    """One row per task shown: ``pool`` (training, exam, production), ``page``, ``task``,
    ``golden`` (the known label, empty for items to label) and ``hint``.

    Parameters
    ----------
    send : list
        Ids of the items to label.
    known : Series
        Known label by item id; the training and exam items are drawn from them, and the
        honeypots (one per production page, reused in turn when there are fewer than pages)
        from the rest.
    """
    if options.overlap < 1 or options.page_size < 2:
        raise UnderspecError(f"overlap {options.overlap}, page_size {options.page_size}: expected an overlap "
                             f"of at least 1 and pages of at least 2 tasks (one is the honeypot)")
    if not send:
        raise UnderspecError("nothing to export: the selection sends no item (budget 0?)")
    need = options.training + options.exam + 1
    if len(known) < need:
        raise UnderspecError(f"{len(known)} known labels: expected at least {need} (--training {options.training}"
                             f" + --exam {options.exam} + one honeypot)")
    rng = np.random.default_rng(options.seed)
    ids = known.index.to_numpy()[rng.permutation(len(known))]
    training, exam = ids[:options.training], ids[options.training:options.training + options.exam]
    honeypots = ids[options.training + options.exam:]
    rows = [("training", 0, t, known[t], f"This is {known[t]}.") for t in training]
    rows += [("exam", 0, t, known[t], "") for t in exam]
    per_page = options.page_size - 1
    order = [send[i] for i in rng.permutation(len(send))]
    for page, start in enumerate(range(0, len(order), per_page)):
        honeypot = honeypots[page % len(honeypots)]
        tasks = [(t, "") for t in order[start:start + per_page]] + [(honeypot, known[honeypot])]
        for k in rng.permutation(len(tasks)):
            rows.append(("production", page, tasks[k][0], tasks[k][1], ""))
    return pd.DataFrame(rows, columns=["pool", "page", "task", "golden", "hint"])


def toloka_tsv(pool: pd.DataFrame, images: dict, url_prefix: str = "") -> str:
    """Toloka's task upload format: ``INPUT:task``, ``INPUT:image``, ``GOLDEN:label`` and
    ``HINT:text`` columns, with an empty line between pages (task suites)."""
    lines = ["INPUT:task\tINPUT:image\tGOLDEN:label\tHINT:text"]
    previous = None
    for row in pool.itertuples():
        if previous is not None and row.page != previous:
            lines.append("")
        previous = row.page
        cells = [row.task, url_prefix + images[row.task], row.golden, row.hint]
        lines.append("\t".join(str(c).replace("\t", " ").replace("\n", " ") for c in cells))
    return "\n".join(lines) + "\n"


def task_page(pool: pd.DataFrame, images: dict, classes: list, title: str = "Label the images") -> str:
    """A static HTML page for in-house annotation: the production pages one after the other, a
    choice of class under each image, and the answers written as CSV (``task,worker,label,
    seconds``) in a text box and as a download, ready for ``underspec label aggregate``."""
    production = pool[pool["pool"] == "production"]
    tasks = [{"page": int(r.page), "task": str(r.task), "image": images[r.task]} for r in production.itertuples()]
    data = json.dumps({"tasks": tasks, "classes": [str(c) for c in classes]}).replace("</", "<\\/")
    return _PAGE.replace("{{title}}", html.escape(title)).replace("{{data}}", data)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; padding: 6px; border: 1px solid #ccc; border-radius: 6px; text-align: center; }
figure img { width: 96px; height: 96px; image-rendering: pixelated; display: block; margin: 0 auto 4px; }
textarea { width: 100%; height: 8rem; font-family: monospace; }
.missing { border-color: #c00; }
</style></head>
<body>
<h1>{{title}}</h1>
<p><label>Your name <input id="worker" required></label>
<span id="progress"></span></p>
<form id="page-form"><div class="grid" id="grid"></div>
<p><button type="submit" id="next">Next page</button></p></form>
<h2>Answers</h2>
<p>Copy this text or <a id="download" download="answers.csv" href="#">download answers.csv</a>, then run
<code>underspec label aggregate answers.csv --gold gold.csv --out labels.csv</code>.</p>
<textarea id="csv" readonly>task,worker,label,seconds</textarea>
<script id="data" type="application/json">{{data}}</script>
<script>
const data = JSON.parse(document.getElementById("data").textContent);
const pages = [...new Set(data.tasks.map(t => t.page))];
const rows = ["task,worker,label,seconds"];
let current = 0, started = Date.now();
const quote = v => /[",\\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
function show() {
  const grid = document.getElementById("grid");
  grid.innerHTML = "";
  if (current >= pages.length) {
    document.getElementById("progress").textContent = "All pages done, thank you.";
    document.getElementById("next").disabled = true;
    return;
  }
  document.getElementById("progress").textContent = `Page ${current + 1} of ${pages.length}`;
  data.tasks.filter(t => t.page === pages[current]).forEach((t, i) => {
    const fig = document.createElement("figure");
    fig.dataset.task = t.task;
    const img = document.createElement("img");
    img.src = t.image; img.alt = "item " + (i + 1);
    const choice = document.createElement("select");
    choice.name = "label"; choice.className = "answer";
    choice.add(new Option("?", ""));
    data.classes.forEach(c => choice.add(new Option(c, c)));
    fig.append(img, choice);
    grid.append(fig);
  });
  started = Date.now();
}
document.getElementById("page-form").addEventListener("submit", event => {
  event.preventDefault();
  const worker = document.getElementById("worker").value.trim();
  if (!worker) { document.getElementById("worker").focus(); return; }
  const figures = [...document.querySelectorAll("#grid figure")];
  const empty = figures.filter(f => !f.querySelector("select").value);
  figures.forEach(f => f.classList.toggle("missing", !f.querySelector("select").value));
  if (empty.length) return;
  const seconds = ((Date.now() - started) / 1000 / figures.length).toFixed(2);
  figures.forEach(f => {
    const answer = [f.dataset.task, worker, f.querySelector("select").value, seconds];
    rows.push(answer.map(quote).join(","));
  });
  const text = rows.join("\\n") + "\\n";
  document.getElementById("csv").value = text;
  document.getElementById("download").href = "data:text/csv;charset=utf-8," + encodeURIComponent(text);
  current += 1;
  show();
});
show();
</script>
</body></html>
"""
