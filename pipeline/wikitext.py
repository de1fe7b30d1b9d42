"""MediaWiki wikitext -> clean plain text, for pretraining (no templates, tables, references or file links).

This is not a MediaWiki parser: templates are not expanded, so anything a template would render is gone, except a
short list of inline templates whose argument *is* running text in jawiki articles (``{{仮リンク|...}}``,
``{{lang|en|...}}``, ``{{読み仮名|...}}``...; dropping those would leave holes in sentences).

Every step is a scan with a stack, ``str.find`` or a regex whose quantifiers are possessive and whose character
classes exclude the opening delimiter, so the work is linear in the input: a 2 MB page of unbalanced ``{{`` or
``[[`` or ``<ref>`` cannot trigger catastrophic backtracking (tests/test_wikitext.py checks the pathological cases).

Order matters: comments, then content-bearing tags (``<ref>``, ``<gallery>``, ``<math>``), then templates and
tables, then wiki links (innermost first, so a link in a file caption goes with the file), then external links,
then inline markup, then per-line work (headings, lists, the cut at 脚注/出典/...), then entities and whitespace.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Collection

# Namespaces whose links are invisible in the rendered article (images, categories), lower-case. MediaWiki accepts
# the canonical English names and the local names and aliases everywhere; readers add the names from <siteinfo>.
HIDDEN_LINK_NAMESPACES: frozenset[str] = frozenset(
    {"file", "image", "media", "category", "ファイル", "画像", "メディア", "カテゴリ"}
)

# Tags whose whole content is removed: references, galleries, formulas and other non-prose payloads.
_DROPPED_TAGS = (
    "ref",
    "references",
    "gallery",
    "math",
    "chem",
    "ce",
    "score",
    "timeline",
    "imagemap",
    "graph",
    "mapframe",
    "maplink",
    "templatedata",
    "templatestyles",
    "inputbox",
    "categorytree",
    "hiero",
)
_DROPPED_TAG = re.compile(r"<(/?)(" + "|".join(_DROPPED_TAGS) + r")(?=[\s/>])[^<>]*+>", re.IGNORECASE)

# Template/table delimiters. `{|` opens and `|}` closes a table only at the start of a line (after indentation).
_BRACE_TOKEN = re.compile(r"\{\{\{|\}\}\}|\{\{|\}\}|^[ \t:]*+\{\||^[ \t]*+\|\}", re.MULTILINE)
_ARG_TOKEN = re.compile(r"\{\{|\}\}|\[\[|\]\]|\|")
_LINK_TOKEN = re.compile(r"\[\[|\]\]")
# `[url label]` -> label. The URL excludes brackets and the label excludes `[`, so no two starts share a scan.
_EXTERNAL_LINK = re.compile(r"\[(?:https?://|ftp://|//|mailto:|news:|irc://)[^\s\[\]<>\"]*+([^\[\]\n]*+)\]")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*+(?=[\s/>])[^<>]*+>")
_LINE_BREAK_TAG = re.compile(r"<br\s*+/?>", re.IGNORECASE)
_MAGIC_WORD = re.compile(r"__[A-Z]++__")
_BOLD_ITALIC = re.compile(r"'{2,}+")
_INTERLANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z]{2,8})?")
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f]++")
_ZERO_WIDTH = re.compile(r"[\u200b\u200e\u200f\ufeff]")
# Brackets left empty (or starting/ending with a separator) after a reference or template inside them went away.
# ASCII `()` after a letter or digit is code (`printf()`), not an emptied aside.
_EMPTY_BRACKETS = re.compile(r"（[\s、,，;；]*+）|(?<![A-Za-z0-9_])\([\s、,，;；]*+\)")
_LEADING_SEPARATOR = re.compile(r"([（(])[\s、,，;；]++")
_TRAILING_SEPARATOR = re.compile(r"[\s、,，;；]++([)）])")
_HEADING_SPLIT = re.compile(r"[・/／、,，]")

# Nested kept templates are re-cleaned recursively; deeper nesting than this is dropped (bounds the work).
_MAX_TEMPLATE_RECURSION = 4
# Deeper [[ nesting than this is treated as stray markup: real pages nest at most 2-3 levels (file captions).
_MAX_LINK_DEPTH = 8


def clean_wikitext(
    wikitext: str,
    *,
    cut_sections: Collection[str] = (),
    hidden_namespaces: Collection[str] = HIDDEN_LINK_NAMESPACES,
) -> str:
    """Plain text of an article: prose, headings as plain lines, list items; cut at the first ``cut_sections`` heading.

    ``hidden_namespaces``: lower-case namespace names whose links are dropped with their caption (files, categories).

    >>> clean_wikitext("'''日本語'''（にほんご）は[[言語|ことば]]である<ref>出典</ref>。{{要出典}}")
    '日本語（にほんご）はことばである。'
    """
    text = _strip_comments(wikitext)
    text = _strip_dropped_tags(text)
    text = strip_templates(text)
    text = render_links(text, frozenset(n.lower() for n in hidden_namespaces))
    text = _EXTERNAL_LINK.sub(lambda m: m.group(1).strip(), text)
    text = _LINE_BREAK_TAG.sub("\n", text)
    text = _HTML_TAG.sub("", text)
    text = _MAGIC_WORD.sub("", text)
    text = _BOLD_ITALIC.sub("", text)
    lines = _plain_lines(text, frozenset(cut_sections))
    return "\n".join(lines)


def _strip_comments(text: str) -> str:
    """Remove ``<!-- ... -->``; an unclosed comment hides the rest of the page, as in MediaWiki."""
    parts = []
    pos = 0
    while (start := text.find("<!--", pos)) != -1:
        parts.append(text[pos:start])
        end = text.find("-->", start + 4)
        if end == -1:
            return "".join(parts)
        pos = end + 3
    parts.append(text[pos:])
    return "".join(parts)


def _strip_dropped_tags(text: str) -> str:
    """Remove ``<ref>...</ref>``, ``<ref .../>``, ``<gallery>...</gallery>`` etc. with their content.

    As in MediaWiki, these extension tags do not nest: the content runs to the first matching closing tag. An
    opening tag that is never closed loses only the tag itself (MediaWiki shows it as text; its content is usually
    a citation template that the template pass removes anyway), so one broken ``<ref>`` cannot swallow the page.
    """
    tokens = list(_DROPPED_TAG.finditer(text))
    # next_close[i]: index of the first closing tag of the same name after token i (-1 when none), in one pass.
    next_close = [-1] * len(tokens)
    nearest: dict[str, int] = {}
    for i in range(len(tokens) - 1, -1, -1):
        name = tokens[i].group(2).lower()
        next_close[i] = nearest.get(name, -1)
        if tokens[i].group(1) == "/":
            nearest[name] = i
    parts: list[str] = []
    pos = 0
    i = 0
    while i < len(tokens):
        m = tokens[i]
        parts.append(text[pos : m.start()])
        pos = m.end()
        is_opener = m.group(1) != "/" and not m.group(0).endswith("/>")
        if is_opener and next_close[i] != -1:
            i = next_close[i]
            pos = tokens[i].end()
        i += 1
    parts.append(text[pos:])
    return "".join(parts)


def strip_templates(text: str, _depth: int = 0) -> str:
    """Remove templates ``{{...}}`` (nested), parameters ``{{{...}}}`` and tables ``{|...|}``.

    Inline templates in ``INLINE_TEMPLATES`` are replaced by their text argument. An unclosed ``{{`` is literal
    text in MediaWiki: only the marker goes. An unclosed table runs to the end of the page, as MediaWiki closes it.
    """
    stack: list[tuple[str, int]] = []  # ("tpl" | "param" | "table", start offset)
    regions: list[tuple[int, int, str]] = []  # completed (start, end, kind) at any depth
    pos = 0
    while (m := _BRACE_TOKEN.search(text, pos)) is not None:
        tok, start = m.group(), m.start()
        pos = m.end()
        if tok == "{{{":
            stack.append(("param", start))
        elif tok == "{{":
            stack.append(("tpl", start))
        elif tok.endswith("{|"):
            stack.append(("table", start))
        elif tok == "}}}" and stack and stack[-1][0] == "param":
            regions.append((stack.pop()[1], pos, "param"))
        elif tok in ("}}", "}}}"):
            if tok == "}}}":
                pos = start + 2  # `}}}` closing a template: `}}` now, the last `}` may close an outer one
            idx = next((i for i in range(len(stack) - 1, -1, -1) if stack[i][0] in ("tpl", "param")), None)
            if idx is None:
                regions.append((start, pos, "stray"))
            else:
                kind, open_at = stack[idx]
                del stack[idx:]  # a table opened inside a template ends with it
                regions.append((open_at, pos, kind))
        else:  # "|}"
            if stack and stack[-1][0] == "table":
                regions.append((stack.pop()[1], pos, "table"))
            elif stack:
                pos = start + tok.index("|") + 1  # `|}}` ending a template argument: let `}}` match
            else:
                regions.append((start, pos, "stray"))
    for kind, open_at in stack:  # unclosed at the end of the text
        end = len(text) if kind == "table" else open_at + (3 if kind == "param" else 2)
        regions.append((open_at, end, "stray"))

    regions.sort(key=lambda r: (r[0], -r[1]))
    parts: list[str] = []
    pos = 0
    for start, end, kind in regions:
        if start < pos:  # inside a region already removed
            continue
        parts.append(text[pos:start])
        if kind == "tpl" and _depth < _MAX_TEMPLATE_RECURSION:
            parts.append(_render_inline_template(text[start + 2 : end - 2], _depth))
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _split_args(inner: str) -> list[str]:
    """Split a template body at its top-level ``|`` (not inside nested ``{{ }}`` or ``[[ ]]``)."""
    args, depth, pos = [], 0, 0
    for m in _ARG_TOKEN.finditer(inner):
        tok = m.group()
        if tok in ("{{", "[["):
            depth += 1
        elif tok in ("}}", "]]"):
            depth = max(0, depth - 1)
        elif depth == 0:
            args.append(inner[pos : m.start()])
            pos = m.end()
    args.append(inner[pos:])
    return args


def _positional(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional and named arguments; ``1=x`` counts as the first positional one."""
    positional: list[str] = []
    named: dict[str, str] = {}
    for arg in args:
        key, eq, value = arg.partition("=")
        if eq and "{{" not in key and "[[" not in key:
            key = key.strip()
            if key.isdigit() and int(key) >= 1:
                while len(positional) < int(key):
                    positional.append("")
                positional[int(key) - 1] = value
            else:
                named[key] = value
        else:
            positional.append(arg)
    return positional, named


def _nth(n: int) -> Callable[[list[str], dict[str, str]], str]:
    return lambda pos, named: pos[n] if len(pos) > n else ""


def _yomigana(pos: list[str], named: dict[str, str]) -> str:
    # {{読み仮名|漢字|かんじ}} renders "漢字（かんじ）" in jawiki.
    if len(pos) >= 2 and pos[1].strip():
        return f"{pos[0]}（{pos[1].strip()}）"
    return pos[0] if pos else ""


# Inline templates whose argument is running text, keyed by lower-case name (MediaWiki template names are
# first-letter case-insensitive; `_` and space are the same). Everything else renders as nothing.
INLINE_TEMPLATES: dict[str, Callable[[list[str], dict[str, str]], str]] = {
    "仮リンク": lambda pos, named: named.get("label") or (pos[0] if pos else ""),
    "lang": _nth(1),
    "langwithname": _nth(2),
    "読み仮名": _yomigana,
    "読み仮名 ruby不使用": _yomigana,
    "ruby": _nth(0),
    "要出典範囲": _nth(0),
    "visible anchor": _nth(0),
    "small": _nth(0),
    "smaller": _nth(0),
    "big": _nth(0),
    "larger": _nth(0),
    "bold": _nth(0),
    "sup": _nth(0),
    "sub": _nth(0),
    "nowrap": _nth(0),
    "color": _nth(1),
    "unicode": _nth(0),
    "jis2004フォント": _nth(0),
    "補助漢字フォント": _nth(0),
    "cp932フォント": _nth(0),
    "拡張漢字": _nth(0),
    "formatnum": _nth(0),
}


def _render_inline_template(inner: str, depth: int) -> str:
    args = _split_args(inner)
    name, colon, first = args[0].partition(":")
    if colon and not name.lstrip().startswith("#"):  # a parser function such as {{formatnum:1234}}
        args = [name, first, *args[1:]]
    key = " ".join(args[0].replace("_", " ").split()).lower()
    render = INLINE_TEMPLATES.get(key)
    if render is None and key.startswith("lang-"):  # {{lang-en|...}}, {{lang-fr-short|...}}
        render = _nth(0)
    if render is None:
        return ""
    positional, named = _positional(args[1:])
    return strip_templates(render(positional, named).strip(), depth + 1)


def render_links(text: str, hidden_namespaces: frozenset[str] = HIDDEN_LINK_NAMESPACES) -> str:
    """``[[target|label]]`` -> label, ``[[target]]`` -> target; file/category/interlanguage links -> nothing.

    Rendered innermost first with a stack of buffers, so a link inside a file caption disappears with the file.
    Stray or unclosed ``[[``/``]]`` markers are dropped and their text kept.
    """
    buffers: list[list[str]] = [[]]
    pos = 0
    for m in _LINK_TOKEN.finditer(text):
        buffers[-1].append(text[pos : m.start()])
        pos = m.end()
        if m.group() == "[[":
            if len(buffers) <= _MAX_LINK_DEPTH:
                buffers.append([])
        elif len(buffers) > 1:
            inner = "".join(buffers.pop())
            buffers[-1].append(_render_link(inner, hidden_namespaces))
    buffers[-1].append(text[pos:])
    return "".join("".join(b) for b in buffers)


def _render_link(inner: str, hidden_namespaces: frozenset[str]) -> str:
    target, pipe, label = inner.partition("|")
    target = target.strip()
    visible = target.startswith(":")  # [[:Category:X]] and [[:en:X]] are ordinary visible links
    target = target.lstrip(":").strip()
    prefix, colon, _rest = target.partition(":")
    prefix = prefix.strip().replace("_", " ").lower()
    if colon and not visible:
        if prefix in hidden_namespaces:
            return ""
        if _INTERLANGUAGE.fullmatch(prefix) and not pipe:
            return ""  # [[en:Japanese language]]: an interlanguage link, shown outside the article body
    if pipe:
        label = label.strip()
        if label:
            return label
        # Pipe trick: [[パリ (小惑星)|]] shows "パリ"; [[Wikipedia:X|]] shows "X".
        shown = target.split(":", 1)[1] if colon else target
        return shown.split(" (", 1)[0].split("（", 1)[0].strip()
    if target.startswith("#"):
        return target[1:]
    return target


def _heading(line: str) -> tuple[int, str] | None:
    """(level, title) of a ``== heading ==`` line, or None."""
    if len(line) < 3 or line[0] != "=" or line[-1] != "=":
        return None
    level = min(len(line) - len(line.lstrip("=")), len(line) - len(line.rstrip("=")), 6)
    title = line[level : len(line) - level].strip()
    return (level, title) if title else None


def _is_cut(title: str, cut_sections: frozenset[str]) -> bool:
    # "脚注・出典", "注・出典" and "出典 / 参考文献" are the same sections under combined names.
    name = "".join(title.split())
    return name in cut_sections or any(part in cut_sections for part in _HEADING_SPLIT.split(name))


def _plain_lines(text: str, cut_sections: frozenset[str]) -> list[str]:
    text = html.unescape(text)
    text = _ZERO_WIDTH.sub("", text)
    lines: list[tuple[str, int]] = []  # (text, heading level or 0 for content)
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line[0] == "|":
            # Outside a table a line starting with `|` is a row of a table opened and closed by templates
            # ({{Infobox animanga/header}} ... {{Infobox animanga/Footer}}): markup, not prose.
            continue
        level = 0
        heading = _heading(line)
        if heading is not None:
            level, title = heading
            if _is_cut(title, cut_sections):
                break
            line = title
        elif line.startswith("----"):
            continue  # horizontal rule
        else:
            line = line.lstrip("*#:;").strip()  # list and indentation markers; the item text stays
        line = _EMPTY_BRACKETS.sub("", line)
        line = _LEADING_SEPARATOR.sub(r"\1", line)
        line = _TRAILING_SEPARATOR.sub(r"\1", line)
        line = _SPACES.sub(" ", line).strip()
        if line:
            lines.append((line, level))
    return _drop_empty_sections(lines)


def _drop_empty_sections(lines: list[tuple[str, int]]) -> list[str]:
    """Drop headings whose section has no text left (it held only a table, gallery or template)."""
    inf = len(lines)
    next_content = inf
    next_heading = [inf] * 7  # nearest later heading of each level 1..6
    keep = [True] * len(lines)
    for i in range(len(lines) - 1, -1, -1):
        level = lines[i][1]
        if level == 0:
            next_content = i
            continue
        keep[i] = next_content < min(next_heading[1 : level + 1])
        next_heading[level] = i
    return [line for (line, _), k in zip(lines, keep, strict=True) if k]
