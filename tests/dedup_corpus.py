"""Near-duplicate evaluation corpus built from real text at test time, with brute-force ground truth.

Sources (read from the shared data folder, nothing copied into the repo):
- ClueWeb09-ja shop pages (resiliparse test fixture, warc_real/): 29 real product pages of one shop sharing a
  template, several of them the same product reached through different category paths — natural near-duplicates.
  Text: EUC-JP bytes decoded, main content by resiliparse's ``extract_plain_text``.
- Aozora Bunko works (public domain): originals are ~2,000-character windows of different works, plus planted
  variants of each (exact copy, 1-5% character edits, boilerplate added, paragraphs reordered, 50% overlap with an
  unrelated work) and unrelated windows.

Ground truth: Jaccard of the sets of character n-grams (as strings, no hashing) of the normalised texts,
computed for every pair. Used by tests/test_dedup_quality.py (small) and bench/bench_minhash.py (larger).
"""

from __future__ import annotations

import random
import re
from itertools import combinations
from pathlib import Path

from pipeline.dedup_config import NormalizeConfig
from pipeline.minhash import normalize
from pipeline.schema import new_doc

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CLUEWEB_WARC = SHARED_DATA / "warc_real" / "resiliparse_clueweb09-ja_quirk.warc.gz"
AOZORA_TEXTS = SHARED_DATA / "aozora_bunko_pd" / "texts"

_RUBY = re.compile(r"《[^》]*》|｜|［＃[^］]*］")
_HIRAGANA = [chr(c) for c in range(0x3041, 0x3097)]
BOILERPLATE_HEAD = (
    "ホーム｜新着情報｜会社概要｜お問い合わせ｜サイトマップ｜プライバシーポリシー\n"
    "【送料無料キャンペーン実施中】5,000円以上のご注文で全国送料無料！ポイント10倍は今週末まで。\n"
)
BOILERPLATE_TAIL = (
    "\nこのページの先頭へ戻る\n特定商取引法に基づく表記｜ご利用ガイド｜よくあるご質問｜採用情報\n"
    "Copyright (C) 2009 Example Shop Co., Ltd. All Rights Reserved. 無断転載を禁じます。\n"
)
VARIANT_KINDS = ("exact", "edit1", "edit2", "edit3", "edit5", "boilerplate", "reorder", "overlap50")


def clueweb_docs() -> list[dict]:
    """The 29 shop pages as documents (id ``cw-NN``)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text

    docs = []
    with CLUEWEB_WARC.open("rb") as f:
        for i, rec in enumerate(ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True)):
            html = rec.reader.read().decode("euc-jp", errors="replace")
            docs.append(
                new_doc(
                    id=f"cw-{i:02d}",
                    text=extract_plain_text(html, main_content=True),
                    source="cc",
                    url=rec.headers.get("WARC-Target-URI"),
                    source_ref=f"{CLUEWEB_WARC.name}@{i}",
                )
            )
    return docs


def aozora_body(path: Path) -> str:
    """Work text without the header block, the colophon and ruby/editor marks."""
    text = path.read_text(encoding="utf-8")
    parts = text.split("-------------------------------------------------------")
    body = parts[2] if len(parts) >= 3 else text
    body = body.split("\n底本：")[0]
    return _RUBY.sub("", body).strip()


def aozora_windows(num: int, window_chars: int, seed: int) -> list[str]:
    """``num`` windows of ``window_chars`` characters from distinct works (line-aligned, from the middle)."""
    rng = random.Random(seed)
    paths = sorted(AOZORA_TEXTS.glob("*.txt"))
    rng.shuffle(paths)
    windows = []
    for path in paths:
        body = aozora_body(path)
        if len(body) < window_chars * 2:
            continue
        start = body.find("\n", len(body) // 2 - window_chars // 2) + 1
        windows.append(body[start : start + window_chars])
        if len(windows) == num:
            break
    assert len(windows) == num, f"only {len(windows)} Aozora works are long enough"
    return windows


def aozora_chunks(num: int, chunk_chars: int) -> list[str]:
    """``num`` consecutive ``chunk_chars``-character pieces of the works, in file order (benchmark input)."""
    chunks: list[str] = []
    for path in sorted(AOZORA_TEXTS.glob("*.txt")):
        body = aozora_body(path)
        chunks.extend(body[i : i + chunk_chars] for i in range(0, len(body) - chunk_chars + 1, chunk_chars))
        if len(chunks) >= num:
            return chunks[:num]
    raise ValueError(f"the Aozora works hold only {len(chunks)} chunks of {chunk_chars} characters")


def edit(text: str, fraction: float, rng: random.Random) -> str:
    """Random character substitutions, deletions and insertions at ``fraction`` of the positions."""
    chars = list(text)
    for _ in range(max(1, round(len(chars) * fraction))):
        pos = rng.randrange(len(chars))
        op = rng.random()
        if op < 0.4:
            chars[pos] = rng.choice(_HIRAGANA)
        elif op < 0.7:
            del chars[pos]
        else:
            chars.insert(pos, rng.choice(_HIRAGANA))
    return "".join(chars)


def variant(kind: str, text: str, other: str, rng: random.Random) -> str:
    if kind == "exact":
        return text
    if kind.startswith("edit"):
        return edit(text, int(kind[4:]) / 100, rng)
    if kind == "boilerplate":
        return BOILERPLATE_HEAD + text + BOILERPLATE_TAIL
    if kind == "reorder":
        paragraphs = text.split("\n")
        rng.shuffle(paragraphs)
        return "\n".join(paragraphs)
    if kind == "overlap50":
        return text[: len(text) // 2] + other[len(other) // 2 :]
    raise ValueError(f"unknown variant kind {kind!r}")


def planted_corpus(num_originals: int, num_unrelated: int, window_chars: int, seed: int) -> list[dict]:
    """Originals with every variant kind each, unrelated windows and the ClueWeb pages, shuffled."""
    rng = random.Random(seed)
    windows = aozora_windows(num_originals * 2 + num_unrelated, window_chars, seed)
    originals, others = windows[:num_originals], windows[num_originals : num_originals * 2]
    docs = []
    for i, text in enumerate(originals):
        docs.append(new_doc(id=f"ao-{i:03d}-orig", text=text, source="aozora", source_ref=f"orig{i}"))
        for kind in VARIANT_KINDS:
            docs.append(
                new_doc(
                    id=f"ao-{i:03d}-{kind}",
                    text=variant(kind, text, others[i], rng),
                    source="aozora",
                    source_ref=f"orig{i}:{kind}",
                )
            )
    for j, text in enumerate(windows[num_originals * 2 :]):
        docs.append(new_doc(id=f"un-{j:03d}", text=text, source="aozora", source_ref=f"unrelated{j}"))
    docs.extend(clueweb_docs())
    rng.shuffle(docs)
    return docs


def shingle_set(text: str, ngram_chars: int, cfg: NormalizeConfig) -> frozenset[str]:
    norm = normalize(text, cfg)
    return frozenset(norm[i : i + ngram_chars] for i in range(len(norm) - ngram_chars + 1))


def true_jaccard_pairs(docs: list[dict], ngram_chars: int, cfg: NormalizeConfig) -> dict[tuple[str, str], float]:
    """Brute force: exact Jaccard of every pair, keyed by (id_a, id_b) with id_a < id_b.

    Shingles are numbered exactly (a dict of the n-gram strings, no hashing); all pairwise intersections come from
    one sparse product of the document x shingle incidence matrix.
    """
    import numpy as np
    from scipy.sparse import csr_matrix

    ids = sorted(d["id"] for d in docs)
    text_of = {d["id"]: d["text"] for d in docs}
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for row, doc_id in enumerate(ids):
        for shingle in shingle_set(text_of[doc_id], ngram_chars, cfg):
            rows.append(row)
            cols.append(vocab.setdefault(shingle, len(vocab)))
    incidence = csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(ids), len(vocab)))
    inter = (incidence @ incidence.T).toarray()
    sizes = np.diag(inter)
    out = {}
    for i, j in combinations(range(len(ids)), 2):
        union = sizes[i] + sizes[j] - inter[i, j]
        out[(ids[i], ids[j])] = float(inter[i, j] / union) if union else 1.0
    return out


def components(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, str]:
    """In-memory union-find: node -> smallest node of its component."""
    parent = {n: n for n in nodes}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in nodes}


def pair_scores(truth: dict[tuple[str, str], float], cluster_of: dict[str, str], threshold: float) -> dict[str, float]:
    """Recall of the true pairs (J >= threshold) that share a predicted cluster; precision of predicted same-cluster
    pairs against the true clustering (components of the J >= threshold graph), and against direct J >= threshold."""
    ids = sorted(cluster_of)
    true_edges = [p for p, j in truth.items() if j >= threshold]
    true_cluster = components(ids, true_edges)
    predicted = [(a, b) for a, b in combinations(ids, 2) if cluster_of[a] == cluster_of[b]]
    num_found = sum(cluster_of[a] == cluster_of[b] for a, b in true_edges)
    num_right = sum(true_cluster[a] == true_cluster[b] for a, b in predicted)
    num_direct = sum(truth[(a, b)] >= threshold for a, b in predicted)
    return {
        "true_pairs": len(true_edges),
        "predicted_pairs": len(predicted),
        "recall": num_found / len(true_edges) if true_edges else 1.0,
        "precision": num_right / len(predicted) if predicted else 1.0,
        "precision_direct": num_direct / len(predicted) if predicted else 1.0,
    }


JAWIKI_DUMP = SHARED_DATA / "jawiki_dump_sample" / "jawiki_pages-articles_head262.xml.bz2"


def jawiki_texts(min_chars: int = 200) -> list[str]:
    """Article texts of the jawiki dump sample (our own wikitext reader), those of at least ``min_chars``."""
    from pipeline.config import WikipediaConfig
    from pipeline.read_wikipedia import iter_wikipedia

    return [
        value["text"]
        for kind, value in iter_wikipedia(str(JAWIKI_DUMP), WikipediaConfig())
        if kind == "doc" and len(value["text"]) >= min_chars
    ]


SCALED_VARIANT_KINDS = ("exact", "edit1", "edit2", "edit3", "boilerplate", "reorder")


def scaled_corpus_sources(chunk_chars: int = 2000) -> list[str]:
    """Base texts of :func:`scaled_doc`: every 2,000-character Aozora chunk, jawiki articles, ClueWeb shop pages."""
    return aozora_chunks(2000, chunk_chars) + jawiki_texts() + [d["text"] for d in clueweb_docs()]


def scaled_doc(i: int, sources: list[str], duplicate_fraction: float = 0.5) -> dict:
    """Document ``i`` of a corpus of any size with a fixed share of near-duplicates (benchmark input).

    With probability ``1 - duplicate_fraction`` the document is "new": four pieces of four random source texts
    spliced together (Jaccard ~0.25 or less to anything else, so the supply of distinct documents never runs out);
    otherwise it is a variant (exact copy, 1-3% edits, boilerplate, reordered lines) of a document chosen
    among the earlier indices. Deterministic in ``i``: any worker can build any document.
    """
    rng = random.Random(i)
    if i > 0 and rng.random() < duplicate_fraction:
        base = rng.randrange(i)  # may itself be a variant: edits accumulate along chains, as copies of copies do
        kind = rng.choice(SCALED_VARIANT_KINDS)
        text = variant(kind, scaled_doc(base, sources, duplicate_fraction)["text"], "", rng)
        return new_doc(id=f"s{i:07d}", text=text, source="bench", source_ref=f"scaled:{i}:{kind}-of-{base}")
    pieces = []
    for _ in range(4):
        src = sources[rng.randrange(len(sources))]
        start = rng.randrange(max(1, len(src) - 500))
        pieces.append(src[start : start + 500])
    return new_doc(id=f"s{i:07d}", text="\n".join(pieces), source="bench", source_ref=f"scaled:{i}:new")
