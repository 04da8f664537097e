"""The review page as text: pure functions from the review's records to self-contained HTML.

Everything a page needs is inside it: styles, the script that records the reviewer's marks, and the
thumbnails as ``data:`` URIs. A Content-Security-Policy forbids any other load (no CDN, web font, remote
script or image), so the page works offline and cannot leak what it shows. Every file name, reason, note
and path is HTML-escaped here; the script only ever sets text, never markup.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

CSP = ("default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")
HISTOGRAM_BINS = 50


@dataclass(frozen=True)
class Box:
    """A box to draw on a thumbnail: MegaDetector ``[x, y, w, h]`` of the upright image, and its label."""

    bbox: tuple[float, float, float, float]
    label: str
    kind: str  # "candidate" (not blurred: check it), "blurred", "other"


@dataclass(frozen=True)
class Card:
    """One image on the page."""

    file: str  # relative path, as in the report's input column (the key of a correction)
    action: str
    lines: tuple[str, ...]  # what to say about it (reasons, confidences)
    image: bytes | None = None  # JPEG thumbnail (upright): the original, or the blurred output
    before: bytes | None = None  # for blurred images: the original, shown on demand
    missing: str = ""  # why there is no thumbnail
    boxes: tuple[Box, ...] = ()
    actions: bool = True  # offer corrections (images that are in the shareable folder)


@dataclass(frozen=True)
class Section:
    key: str  # "check", "problems", "blurred"
    title: str
    intro: str
    total: int  # images in this section in the whole run
    shown: int  # of which the review shows (cards, over all pages)
    pages: int


@dataclass(frozen=True)
class Summary:
    """The top of the index page."""

    share: str
    review_folder: str
    counts: Mapping[str, int]
    settings: Sequence[tuple[str, str]]
    model: Sequence[tuple[str, str]]
    run: Sequence[tuple[str, str]]
    person_confs: Sequence[float]  # one per person detection in the shared images (or a histogram of them)
    threshold: float | None
    floor: float
    limits: str
    command: str = ""


@dataclass(frozen=True)
class PageContext:
    run_id: str
    sections: Sequence[Section]
    share: str


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def page_name(section: str, number: int) -> str:
    """The file of page ``number`` (from 1) of a section; page 1 of every section is on the index."""
    return "index.html" if number == 1 else f"{section}-{number}.html"


def render_page(context: PageContext, title: str, body: Iterable[str]) -> str:
    """A whole HTML document: banner, toolbar, the body parts, and the script."""
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>",
        f'<body data-run="{esc(context.run_id)}">',
        banner(context.share),
        toolbar(context),
        *body,
        f"<script>{SCRIPT}</script></body></html>\n",
    ]
    return "\n".join(parts)


def banner(share: str) -> str:
    return (
        '<header class="banner" id="warning"><strong>Private: this page shows the original images, with the '
        "people in them not blurred.</strong> It is for the data owner's review only. It is kept beside the "
        f"shareable folder <code>{esc(share)}</code>, never inside it, and it is not listed in the shareable "
        "results. Do not share this page or its folder.</header>"
    )


def toolbar(context: PageContext) -> str:
    links = []
    for section in context.sections:
        if section.pages:
            pages = " ".join(
                f'<a href="{esc(page_name(section.key, n))}#{esc(section.key)}">{n}</a>' for n in range(1, section.pages + 1)
            )
            links.append(f'<span class="nav-section">{esc(section.title)}: {pages}</span>')
    return (
        '<nav class="toolbar" id="toolbar"><a href="index.html#summary">Summary</a> '
        + " ".join(links)
        + ' <span class="spacer"></span><span id="marks">No corrections yet.</span> '
        '<button type="button" id="save">Save corrections</button></nav>'
    )


# ----------------------------------------------------------------------------------------------------------
# Summary


def render_summary(summary: Summary) -> str:
    counts = "".join(f"<tr><th>{esc(a)}</th><td>{n:,}</td></tr>" for a, n in summary.counts.items())
    return "\n".join([
        '<section id="summary"><h1>Review of the shareable folder</h1>',
        f"<p class=\"where\">Shareable folder: <code>{esc(summary.share)}</code>. This review: "
        f"<code>{esc(summary.review_folder)}</code>.</p>",
        '<div class="summary-grid">',
        f'<table id="counts"><caption>Images by action</caption>{counts}</table>',
        key_values("settings", "Settings", summary.settings),
        key_values("model", "Model", summary.model),
        key_values("run", "Run", summary.run),
        "</div>",
        histogram_svg(summary.person_confs, summary.threshold, summary.floor),
        f'<p class="limits" id="limits">{esc(summary.limits)}</p>',
        how_to_apply(summary.command),
        "</section>",
    ])


def key_values(ident: str, caption: str, rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table id="{esc(ident)}"><caption>{esc(caption)}</caption>{body}</table>'


def how_to_apply(command: str) -> str:
    text = ("Mark images below (draw a box on a thumbnail with the mouse, or use the buttons), then press "
            "\u201cSave corrections\u201d: your browser saves corrections.csv. Apply it by running the same "
            "blur again with this corrections file (the command below; from Python or R, corrections= its path): "
            "only the images it touches are redone.")
    example = f"<pre id=\"command\">{esc(command)}</pre>" if command else ""
    return f'<div class="apply"><p>{esc(text)}</p>{example}</div>'


def histogram_svg(confs: Sequence[float], threshold: float | None, floor: float, bins: int = HISTOGRAM_BINS) -> str:
    """An inline SVG histogram of person confidences, square-root scale, threshold and floor marked."""
    counts = [0] * bins
    for conf in confs:
        counts[min(bins - 1, max(0, int(conf * bins)))] += 1
    width, height, left, bottom, top = 640, 220, 44, 30, 16
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max(counts) or 1
    bars = []
    for index, count in enumerate(counts):
        if not count:
            continue
        bar_h = plot_h * math.sqrt(count) / math.sqrt(peak)
        x = left + plot_w * index / bins
        bars.append(
            f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" width="{plot_w / bins - 1:.1f}" '
            f'height="{bar_h:.1f}"><title>{index / bins:.2f}-{(index + 1) / bins:.2f}: {count:,}</title></rect>'
        )
    ticks = "".join(
        f'<text x="{left + plot_w * t:.1f}" y="{height - 10}" text-anchor="middle">{t:.1f}</text>'
        for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    )
    marks = []
    for value, name, css in ((floor, "review floor", "floor"), (threshold, "blur threshold", "threshold")):
        if value is None or not 0 <= value <= 1:
            continue
        x = left + plot_w * value
        anchor = "end" if value > 0.8 else "start"
        dx = -4 if anchor == "end" else 4
        y = top + 12 if css == "threshold" else top + 26
        marks.append(
            f'<line class="{css}" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}"></line>'
            f'<text class="{css}" x="{x + dx:.1f}" y="{y}" text-anchor="{anchor}">{esc(name)} {value:g}</text>'
        )
    caption = (f"Confidence of the {len(confs):,} person detections in the shareable images "
               "(bar height: square root of the count)")
    return (
        f'<figure id="histogram"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{esc(caption)}">'
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"></line>'
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{peak:,}</text>'
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>'
        + "".join(bars) + ticks + "".join(marks)
        + f"</svg><figcaption>{esc(caption)}</figcaption></figure>"
    )


# ----------------------------------------------------------------------------------------------------------
# Sections and cards


def render_section(section: Section, number: int, cards: Sequence[Card], first_index: int,
                   folder_of: Mapping[str, str] | None = None) -> str:
    """One page of a section. ``folder_of`` groups cards under folder headings (blurred images)."""
    head = [f'<section class="review-section" id="{esc(section.key)}"><h2>{esc(section.title)}</h2>',
            f'<p class="intro">{esc(section.intro)}</p>', f'<p class="count">{esc(section_count(section, number))}</p>']
    body = ['<div class="cards">']
    folder = None
    for offset, card in enumerate(cards):
        if folder_of is not None:
            here = folder_of.get(card.file, "")
            if here != folder:
                folder = here
                body.append(f'</div><h3 class="folder">{esc(here or "(top folder)")}</h3><div class="cards">')
        body.append(render_card(card, first_index + offset))
    body.append("</div>")
    return "\n".join(head + body + ["</section>"])


def section_count(section: Section, number: int) -> str:
    if section.total == 0:
        return "None."
    text = f"{section.total:,} image{'s' if section.total != 1 else ''}"
    if section.shown < section.total:
        text += f"; the review shows {section.shown:,} of them (the limit)"
    if section.pages > 1:
        text += f"; page {number} of {section.pages}"
    return text + "."


def render_card(card: Card, index: int) -> str:
    boxes = "".join(render_box(b) for b in card.boxes)
    if card.image is not None:
        before = f' data-before="{data_uri(card.before)}"' if card.before is not None else ""
        picture = (f'<div class="thumb"{before}><img src="{data_uri(card.image)}" alt="thumbnail of {esc(card.file)}" '
                   f'draggable="false">{boxes}</div>')
    else:
        picture = f'<div class="thumb none"><p>{esc(card.missing or "no preview")}</p></div>'
    lines = "".join(f"<li>{esc(line)}</li>" for line in card.lines)
    actions = ""
    if card.actions and card.image is not None:
        toggle = '<button type="button" data-do="before">Show original</button>' if card.before is not None else ""
        actions = (
            '<div class="actions">'
            '<button type="button" data-do="blur-image">Blur whole image</button>'
            '<button type="button" data-do="withhold">Withhold</button>'
            '<button type="button" data-do="accept">Accept</button>'
            '<button type="button" data-do="clear">Clear</button>'
            f"{toggle}"
            '<input type="text" class="note" placeholder="note" aria-label="note">'
            '<p class="mark" aria-live="polite"></p>'
            '<p class="hint">Drag on the picture to draw a box to blur.</p></div>'
        )
    return (
        f'<article class="card {esc(card.action)}" id="card-{index}" data-file="{esc(card.file)}">{picture}'
        f'<p class="name">{esc(card.file)}</p><ul class="lines">{lines}</ul>{actions}</article>'
    )


def render_box(box: Box) -> str:
    x, y, w, h = (max(0.0, min(1.0, v)) for v in box.bbox)
    return (f'<div class="box {esc(box.kind)}" style="left:{100 * x:.2f}%;top:{100 * y:.2f}%;'
            f'width:{100 * w:.2f}%;height:{100 * h:.2f}%"><span>{esc(box.label)}</span></div>')


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


STYLE = """
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1d2329;background:#f6f7f8}
body{margin:0}
.banner{background:#8a1c1c;color:#fff;padding:12px 18px;font-size:15px;line-height:1.4}
.banner code{color:#fff}
.toolbar{position:sticky;top:0;z-index:5;display:flex;flex-wrap:wrap;gap:10px;align-items:center;
 background:#fff;border-bottom:1px solid #ccd;padding:8px 18px;font-size:14px}
.toolbar .spacer{flex:1}
.toolbar a{color:#0b57a4}
#save{font-size:14px;padding:6px 12px;background:#0b57a4;color:#fff;border:0;border-radius:4px;cursor:pointer}
section{padding:8px 18px}
h1{font-size:22px;margin:10px 0}
h2{font-size:19px;margin:18px 0 4px;border-top:2px solid #ccd;padding-top:12px}
h3.folder{font-size:15px;margin:14px 0 4px;font-family:ui-monospace,monospace}
.summary-grid{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
table{border-collapse:collapse;background:#fff;font-size:13px}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid #dde;padding:3px 8px;text-align:left;vertical-align:top}
td{font-variant-numeric:tabular-nums}
figure{margin:14px 0}
svg text{font-size:11px;fill:#333}
svg .bar{fill:#5b7fa6}
svg .axis{stroke:#333}
svg line.threshold{stroke:#c0392b;stroke-width:2}
svg text.threshold{fill:#c0392b;font-weight:600}
svg line.floor{stroke:#d68910;stroke-width:2;stroke-dasharray:4 3}
svg text.floor{fill:#a0660a}
.limits,.count,.intro{font-size:13px;color:#444}
.apply pre{background:#fff;border:1px solid #dde;padding:6px;white-space:pre-wrap;word-break:break-all}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #ccd;border-radius:6px;padding:8px;width:340px;font-size:12px}
.card.marked{outline:3px solid #0b57a4}
.thumb{position:relative;display:inline-block;line-height:0;cursor:crosshair;user-select:none;max-width:320px}
.thumb img{max-width:320px;max-height:320px;display:block}
.thumb.none{width:320px;height:80px;background:#eee;line-height:1.3;cursor:default}
.thumb.none p{padding:8px;margin:0}
.box{position:absolute;box-sizing:border-box;border:2px solid #2e86de;pointer-events:none}
.box span{position:absolute;left:0;top:-15px;font-size:10px;line-height:14px;background:#2e86de;color:#fff;
 padding:0 3px;white-space:nowrap}
.box.candidate{border:2px dashed #e74c3c}
.box.candidate span{background:#e74c3c}
.box.added{border:2px solid #f1c40f;background:rgba(241,196,15,.15)}
.box.added span{background:#b7950b}
.name{font-family:ui-monospace,monospace;word-break:break-all;margin:6px 0 2px}
.lines{margin:2px 0;padding-left:16px}
.actions{display:flex;flex-wrap:wrap;gap:4px;margin-top:4px}
.actions button{font-size:12px;padding:3px 6px;cursor:pointer}
.actions button.on{background:#0b57a4;color:#fff}
.actions .note{flex:1 1 100%;font-size:12px}
.mark{flex:1 1 100%;margin:2px 0;color:#0b57a4;font-weight:600}
.hint{flex:1 1 100%;margin:0;color:#777}
"""

# The reviewer's marks live in the browser's storage under the run's id, so that moving between pages
# (each a separate file) keeps them, and "Save corrections" on any page saves them all (where the browser
# shares storage between local files; otherwise each page's own).
SCRIPT = r"""
(function () {
  "use strict";
  var run = document.body.getAttribute("data-run");
  var key = "trapblur-review:" + run;
  var marks = {};
  try { marks = JSON.parse(window.localStorage.getItem(key) || "{}") || {}; } catch (e) { marks = {}; }
  function store() { try { window.localStorage.setItem(key, JSON.stringify(marks)); } catch (e) {} }
  function markOf(file) { return marks[file] || (marks[file] = {action: null, boxes: [], note: ""}); }
  function empty(m) { return !m.action && !m.boxes.length; }
  function fmt(v) { return (Math.round(v * 10000) / 10000).toFixed(4); }
  function describe(m) {
    var parts = [];
    if (m.action === "blur-image") parts.push("blur whole image");
    if (m.action === "withhold") parts.push("withhold");
    if (m.action === "accept") parts.push("accepted");
    if (m.boxes.length) parts.push(m.boxes.length + (m.boxes.length === 1 ? " box" : " boxes") + " to blur");
    return parts.join(", ");
  }
  function render(card) {
    var file = card.getAttribute("data-file");
    var m = marks[file] || {action: null, boxes: [], note: ""};
    var thumb = card.querySelector(".thumb");
    Array.prototype.forEach.call(card.querySelectorAll(".box.added"), function (b) { b.remove(); });
    m.boxes.forEach(function (b, i) {
      var d = document.createElement("div");
      d.className = "box added";
      d.style.left = (100 * b[0]) + "%"; d.style.top = (100 * b[1]) + "%";
      d.style.width = (100 * b[2]) + "%"; d.style.height = (100 * b[3]) + "%";
      var s = document.createElement("span"); s.textContent = "to blur " + (i + 1); d.appendChild(s);
      thumb.appendChild(d);
    });
    Array.prototype.forEach.call(card.querySelectorAll("button[data-do]"), function (b) {
      b.classList.toggle("on", b.getAttribute("data-do") === m.action);
    });
    var note = card.querySelector(".note");
    if (note && note.value !== m.note) note.value = m.note || "";
    var label = card.querySelector(".mark");
    if (label) label.textContent = empty(m) ? "" : "Marked: " + describe(m);
    card.classList.toggle("marked", !empty(m));
  }
  function count() {
    var n = 0;
    Object.keys(marks).forEach(function (f) { if (!empty(marks[f])) n += 1; });
    document.getElementById("marks").textContent =
      n ? n + (n === 1 ? " image marked." : " images marked.") : "No corrections yet.";
  }
  function changed(card) { store(); render(card); count(); }
  var cards = document.querySelectorAll("article.card");
  Array.prototype.forEach.call(cards, function (card) {
    var file = card.getAttribute("data-file");
    var thumb = card.querySelector(".thumb");
    if (!card.querySelector(".actions")) return;
    Array.prototype.forEach.call(card.querySelectorAll("button[data-do]"), function (button) {
      button.addEventListener("click", function () {
        var what = button.getAttribute("data-do");
        if (what === "before") {
          var img = thumb.querySelector("img");
          if (!img.getAttribute("data-after")) img.setAttribute("data-after", img.getAttribute("src"));
          var showing = button.classList.toggle("on");
          img.setAttribute("src", showing ? thumb.getAttribute("data-before") : img.getAttribute("data-after"));
          button.textContent = showing ? "Show blurred" : "Show original";
          return;
        }
        var m = markOf(file);
        if (what === "clear") { m.action = null; m.boxes = []; }
        else { m.action = m.action === what ? null : what; if (what === "accept") m.boxes = []; }
        changed(card);
      });
    });
    var note = card.querySelector(".note");
    note.addEventListener("input", function () { markOf(file).note = note.value; store(); });
    var start = null, drawn = null;
    function where(event) {
      var r = thumb.querySelector("img").getBoundingClientRect();
      return [Math.min(1, Math.max(0, (event.clientX - r.left) / r.width)),
              Math.min(1, Math.max(0, (event.clientY - r.top) / r.height))];
    }
    thumb.addEventListener("mousedown", function (event) {
      if (event.button !== 0) return;
      event.preventDefault();
      start = where(event);
      drawn = document.createElement("div");
      drawn.className = "box added drawing";
      thumb.appendChild(drawn);
    });
    function box(event) {
      var p = where(event);
      return [Math.min(start[0], p[0]), Math.min(start[1], p[1]), Math.abs(p[0] - start[0]), Math.abs(p[1] - start[1])];
    }
    document.addEventListener("mousemove", function (event) {
      if (!start) return;
      var b = box(event);
      drawn.style.left = (100 * b[0]) + "%"; drawn.style.top = (100 * b[1]) + "%";
      drawn.style.width = (100 * b[2]) + "%"; drawn.style.height = (100 * b[3]) + "%";
    });
    document.addEventListener("mouseup", function (event) {
      if (!start) return;
      var b = box(event);
      start = null; drawn.remove(); drawn = null;
      if (b[2] < 0.01 || b[3] < 0.01) return;
      var m = markOf(file);
      m.boxes.push(b.map(function (v) { return Number(fmt(v)); }));
      if (m.action === "accept") m.action = null;
      changed(card);
    });
    render(card);
  });
  count();
  function cell(text) {
    text = String(text == null ? "" : text);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  document.getElementById("save").addEventListener("click", function () {
    var lines = ["file,action,box,note"];
    Object.keys(marks).sort().forEach(function (file) {
      var m = marks[file];
      m.boxes.forEach(function (b) {
        lines.push([cell(file), "box", cell("[" + b.map(fmt).join(", ") + "]"), cell(m.note)].join(","));
      });
      if (m.action) lines.push([cell(file), m.action, "", cell(m.note)].join(","));
    });
    var blob = new Blob([lines.join("\n") + "\n"], {type: "text/csv"});
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "corrections.csv";
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
    document.getElementById("marks").textContent = "Saved " + (lines.length - 1) + " rows to corrections.csv.";
  });
})();
"""
