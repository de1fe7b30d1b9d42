"""Outputs of ``jpcorpus tokenizer compare``: terminal table, CSV, JSON and a self-contained HTML page.

The HTML page has no external resources: inline CSS, inline SVG bar charts (chars/token per tokenizer and text
set, and per script class), and the side-by-side segmentation view where every token is a coloured box and
byte-level tokens (byte fallback, or byte-level BPE splitting a character) are drawn hatched with a red border.
"""

from __future__ import annotations

import csv
import html
import json
import math
from pathlib import Path
from typing import Any

from tokenizer.compare import SCRIPT_CLASSES, Comparison

TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("text_set", "text set", "s"),
    ("tokenizer", "tokenizer", "s"),
    ("vocab_size", "vocab", "d"),
    ("chars_per_token", "chars/tok", ".3f"),
    ("bytes_per_token", "bytes/tok", ".3f"),
    ("tokens_per_1k_chars", "tok/1k ch", ".1f"),
    ("byte_token_rate", "byte %", "%"),
    ("unk_rate", "unk %", "%"),
    ("roundtrip_rate", "roundtrip", "%"),
    ("boundary_f1", "word F1", ".3f"),
    ("encode_tokens_per_s", "tok/s", ",.0f"),
)
PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#d9d9d9")


def _fmt(value: Any, spec: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if spec == "%":
        return f"{100 * value:.2f}"
    return format(value, spec)


def _align(cells: list[str], widths: list[int]) -> str:
    """Two text columns left-aligned, numbers right-aligned."""
    return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


def terminal_table(comparison: Comparison) -> str:
    rows = [r.row() for r in comparison.results]
    header = [title for _, title, _ in TABLE_COLUMNS]
    body = [[_fmt(row[key], spec) for key, _, spec in TABLE_COLUMNS] for row in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    lines = [_align(header, widths), "  ".join("-" * w for w in widths)]
    lines += [_align(b, widths) for b in body]
    lines += ["", "chars/token by script class"]
    script_header = ["text set", "tokenizer", *SCRIPT_CLASSES]
    script_body = [
        [row["text_set"], row["tokenizer"], *(_fmt(row[f"chars_per_token_{c}"], ".2f") for c in SCRIPT_CLASSES)]
        for row in rows
    ]
    sw = [max(len(h), *(len(b[i]) for b in script_body)) for i, h in enumerate(script_header)]
    lines.append(_align(script_header, sw))
    lines += [_align(b, sw) for b in script_body]
    lines.append("")
    lines.append("vocabulary overlap (Jaccard of ordinary pieces)")
    for o in comparison.overlap:
        if o["a"] < o["b"]:
            lines.append(f"  {o['a']} ~ {o['b']}: {o['jaccard']:.3f} ({o['num_shared']} shared)")
    return "\n".join(lines)


def write_csv(comparison: Comparison, path: Path) -> None:
    rows = [r.row() for r in comparison.results]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def to_json(comparison: Comparison) -> dict[str, Any]:
    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and math.isnan(v) else v

    return {
        "text_sets": comparison.text_sets,
        "results": [
            {
                **{k: clean(v) for k, v in r.row().items()},
                "script_chars": r.script_chars,
                "script_tokens": r.script_tokens,
                "boundary": r.boundary,
            }
            for r in comparison.results
        ],
        "overlap": comparison.overlap,
        "samples": comparison.samples,
    }


def write_json(comparison: Comparison, path: Path) -> None:
    path.write_text(json.dumps(to_json(comparison), ensure_ascii=False, indent=1), encoding="utf-8")


# --- HTML ------------------------------------------------------------------------------------------------------
def _bar_chart(title: str, groups: list[str], series: list[str], values: dict[tuple[str, str], float]) -> str:
    """Grouped vertical bars: one group per x label, one bar per series (tokenizer), value labels on top."""
    bar_w, gap, left, top, height = 18, 26, 48, 30, 220
    group_w = len(series) * bar_w + gap
    width = left + len(groups) * group_w + 160
    finite = [v for v in values.values() if math.isfinite(v)]
    vmax = max(finite, default=1.0) * 1.15 or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + 60}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{top + height}" x2="{width - 150}" y2="{top + height}" stroke="#333"/>',
    ]
    for tick in range(0, 6):
        v = vmax * tick / 5
        y = top + height - height * tick / 5
        parts.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{width - 150}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{v:.2f}</text>')
    for gi, g in enumerate(groups):
        x0 = left + gi * group_w + gap / 2
        for si, s in enumerate(series):
            v = values.get((g, s), float("nan"))
            if not math.isfinite(v):
                continue
            h = height * v / vmax
            x = x0 + si * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{top + height - h:.1f}" width="{bar_w - 2}" height="{h:.1f}" '
                f'fill="{PALETTE[si % len(PALETTE)]}" stroke="#555"><title>{html.escape(s)} on {html.escape(g)}: '
                f"{v:.3f}</title></rect>"
            )
            parts.append(
                f'<text x="{x + bar_w / 2 - 1:.1f}" y="{top + height - h - 3:.1f}" font-size="8" '
                f'text-anchor="middle">{v:.2f}</text>'
            )
        parts.append(
            f'<text x="{x0 + len(series) * bar_w / 2:.1f}" y="{top + height + 16}" font-size="11" '
            f'text-anchor="middle">{html.escape(g)}</text>'
        )
    lx = width - 140
    for si, s in enumerate(series):
        y = top + 10 + si * 16
        parts.append(
            f'<rect x="{lx}" y="{y - 9}" width="10" height="10" fill="{PALETTE[si % len(PALETTE)]}" stroke="#555"/>'
        )
        parts.append(f'<text x="{lx + 14}" y="{y}" font-size="11">{html.escape(s)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


_TOKEN_COLOURS = ("#ffd6d6", "#d6f0ff", "#e0ffd6", "#fff1c2", "#ead6ff", "#d6fff5")


def _segmentation_row(text: str, tokens: list[dict[str, Any]]) -> str:
    data = text.encode("utf-8")
    spans = []
    for i, t in enumerate(tokens):
        raw = data[t["start"] : t["end"]]
        if t["is_byte"]:
            label = "".join(f"\\x{b:02x}" for b in raw) if raw else t["piece"]
            try:
                shown = raw.decode("utf-8")
            except UnicodeDecodeError:
                shown = label
            spans.append(
                f'<span class="tok byte" title="byte-level: {html.escape(t["piece"])}">{html.escape(shown)}</span>'
            )
            continue
        shown = raw.decode("utf-8", errors="replace") or t["piece"]
        shown = shown.replace(" ", "␣").replace("\n", "⏎")
        colour = _TOKEN_COLOURS[i % len(_TOKEN_COLOURS)]
        spans.append(
            f'<span class="tok" style="background:{colour}" title="{html.escape(t["piece"])}">'
            f"{html.escape(shown)}</span>"
        )
    return "".join(spans)


def _missing_list(overlap: dict[str, Any]) -> str:
    return ", ".join(f"{m['piece']!r} ({m['count']})" for m in overlap["a_frequent_missing_in_b"])


def write_html(comparison: Comparison, path: Path, *, title: str = "Tokenizer comparison") -> None:
    rows = [r.row() for r in comparison.results]
    tokenizers = list(dict.fromkeys(r["tokenizer"] for r in rows))
    sets = list(dict.fromkeys(r["text_set"] for r in rows))
    by_set = {(r["text_set"], r["tokenizer"]): r["chars_per_token"] for r in rows}
    charts = [_bar_chart("characters per token (higher is better)", sets, tokenizers, by_set)]
    for s in sets:
        present = [
            c
            for c in SCRIPT_CLASSES
            if any(math.isfinite(r[f"chars_per_token_{c}"]) for r in rows if r["text_set"] == s)
        ]
        by_class = {
            (c, r["tokenizer"]): r[f"chars_per_token_{c}"] for r in rows if r["text_set"] == s for c in present
        }
        charts.append(_bar_chart(f"characters per token by script class: {s}", present, tokenizers, by_class))

    table_head = "".join(f"<th>{html.escape(t)}</th>" for _, t, _ in TABLE_COLUMNS)
    table_rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r[k], spec))}</td>" for k, _, spec in TABLE_COLUMNS) + "</tr>"
        for r in rows
    )
    overlap_rows = "".join(
        f"<tr><td>{html.escape(o['a'])}</td><td>{html.escape(o['b'])}</td><td>{o['jaccard']:.3f}</td>"
        f"<td>{html.escape(_missing_list(o))}</td></tr>"
        for o in comparison.overlap
    )
    samples = []
    for sample in comparison.samples:
        rows_html = "".join(
            f"<tr><th>{html.escape(name)}<br><small>{len(toks)} tokens</small></th>"
            f"<td>{_segmentation_row(sample['text'], toks)}</td></tr>"
            for name, toks in sample["tokens"].items()
        )
        samples.append(f"<h3>{html.escape(sample['text_set'])}</h3><table class='seg'>{rows_html}</table>")
    page = f"""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: "Noto Sans CJK JP", "Hiragino Sans", "Yu Gothic", sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 16px; }}
td, th {{ border: 1px solid #ccc; padding: 3px 7px; font-size: 13px; text-align: right; }}
td:first-child, td:nth-child(2), th {{ text-align: left; }}
table.seg td {{ text-align: left; line-height: 2.0; }}
.tok {{ display: inline-block; border: 1px solid #999; border-radius: 3px; padding: 0 1px; margin: 1px;
  white-space: pre; }}
.tok.byte {{ background: repeating-linear-gradient(45deg, #ffe0e0, #ffe0e0 3px, #fff 3px, #fff 6px);
  border: 2px dashed #d00; color: #900; }}
.legend .tok {{ margin-right: 8px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Summary</h2>
<table><tr>{table_head}</tr>{table_rows}</table>
<h2>Plots</h2>
{"".join(f"<div>{c}</div>" for c in charts)}
<h2>Segmentation</h2>
<p class="legend"><span class="tok" style="background:#d6f0ff">token</span>
<span class="tok byte">byte-level token</span> ␣ = space, ⏎ = newline; hover a token for its piece.</p>
{"".join(samples)}
<h2>Vocabulary overlap</h2>
<table><tr><th>A</th><th>B</th><th>Jaccard</th><th>A's most frequent pieces (on these texts) missing from B</th></tr>
{overlap_rows}</table>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
