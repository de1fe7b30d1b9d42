"""Issue 6 benchmark: our mixed ja/en/code vocabulary against LLM-jp v2.1/v2.2, cl100k and o200k.

Builds a train/held-out split of ../shared/data (Aozora works by file hash, the tail of every English file,
code files by path hash), trains one vocabulary per recipe (pre-segmentation off / Sudachi A / B / C, per-language
merge), records wall time and peak RSS of each training run (each in its own process, so RSS is its own), then
measures everything with ``jpcorpus tokenizer compare`` on text none of the models trained on. Prints the
trade-off table (Japanese chars/token against UD word-boundary F1) and the wrapper-overhead figures.

    .venv/bin/python bench/bench_tokenizer.py --out /tmp/tokbench --vocab-size 50000 --max-mb 15

Nothing here is asserted; the figures go in the closing note of issue 6.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
LLMJP = DATA / "llm-jp-tokenizer" / "models"
BASELINES = {
    "llmjp-v2.1": LLMJP / "code10k_en20k_ja30k.ver2.1.model",
    "llmjp-v2.2": LLMJP / "code10K_en20K_ja30K.ver2.2.model",
    "cl100k": DATA / "tokenizers_other" / "cl100k_base.tiktoken",
    "o200k": DATA / "tokenizers_other" / "o200k_base.tiktoken",
}
# name -> --set overrides; the default config (configs/tokenizer_default.toml) is the base.
RECIPES: dict[str, list[str]] = {
    "plain": ["preseg.analyzer=none"],
    "sudachiA": ["preseg.sudachi_mode=A"],
    "sudachiB": ["preseg.sudachi_mode=B"],
    "sudachiC": ["preseg.sudachi_mode=C"],
    "perlang-B": ["preseg.sudachi_mode=B", "per_language.enabled=true"],
}


def _held_out(key: str, percent: int) -> bool:
    return int(hashlib.md5(key.encode()).hexdigest(), 16) % 100 < percent


def build_split(out: Path) -> dict[str, Path]:
    """Write train/ and eval/ files under out/split; returns the eval set paths."""
    split = out / "split"
    (split / "train").mkdir(parents=True, exist_ok=True)
    (split / "eval").mkdir(parents=True, exist_ok=True)
    aozora_eval = split / "eval" / "aozora"
    aozora_eval.mkdir(exist_ok=True)
    aozora_train = split / "train" / "aozora"
    aozora_train.mkdir(exist_ok=True)
    for f in sorted((DATA / "aozora_bunko_pd" / "texts").glob("*.txt")):
        dest = aozora_eval if _held_out(f.name, 10) else aozora_train
        link = dest / f.name
        if not link.exists():
            link.symlink_to(f)
    en_train, en_eval = [], []
    for f in sorted((DATA / "english").glob("en_*.txt")):
        lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
        cut = int(len(lines) * 0.9)
        en_train += lines[:cut]
        en_eval += lines[cut:]
    (split / "train" / "english.txt").write_text("".join(en_train), encoding="utf-8")
    (split / "eval" / "english.txt").write_text("".join(en_eval), encoding="utf-8")
    code_train, code_eval = [], []
    with (DATA / "code" / "code_dev.jsonl").open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            (code_eval if _held_out(record["path"], 10) else code_train).append(line)
    (split / "train" / "code.jsonl").write_text("".join(code_train), encoding="utf-8")
    (split / "eval" / "code.jsonl").write_text("".join(code_eval), encoding="utf-8")
    return {
        "aozora": aozora_eval,
        "ud_gsd": DATA / "ud_japanese_gsd" / "ja_gsd-ud-dev.conllu",
        "english": split / "eval" / "english.txt",
        "code": split / "eval" / "code.jsonl",
    }


def train(out: Path, name: str, overrides: list[str], vocab_size: int, max_mb: float) -> dict:
    split = out / "split" / "train"
    prefix = out / "models" / name
    cmd = [
        sys.executable, "-m", "jpcorpus", "tokenizer", "train",
        "--input", f"ja={split / 'aozora'}", f"en={split / 'english.txt'}", f"code={split / 'code.jsonl'}",
        "--output", str(prefix), "--config", str(REPO / "configs" / "tokenizer_default.toml"),
        "--vocab-size", str(vocab_size), "--set", f"sampling.max_bytes={int(max_mb * 1e6)}",
    ]  # fmt: skip
    for o in overrides:
        cmd += ["--set", o]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)
    card = json.loads(Path(f"{prefix}.card.json").read_text(encoding="utf-8"))
    card["wall_s"] = time.perf_counter() - t0
    return card


def wrapper_overhead(model: Path, texts: list[str]) -> dict:
    """tokens/s on one core: raw SentencePiece, our loader, and the exported tokenizer.json."""
    import sentencepiece as spm
    from tokenizers import Tokenizer

    from tokenizer.loaders import load_tokenizer

    sp = spm.SentencePieceProcessor(model_file=str(model))
    ours = load_tokenizer("ours", model)
    hf = Tokenizer.from_file(str(model.with_suffix(".tokenizer.json")))
    out = {}
    for name, fn in (
        ("raw_sentencepiece", sp.encode),
        ("jpcorpus_loader", ours.encode_ids),
        ("hf_tokenizer_json", lambda t: hf.encode(t, add_special_tokens=False).ids),
    ):
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            num_tokens = sum(len(fn(t)) for t in texts)
            best = min(best, time.perf_counter() - t0)
        out[name] = num_tokens / best
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--vocab-size", type=int, default=50000)
    parser.add_argument("--max-mb", type=float, default=15.0, help="training text in MB")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--max-chars", type=int, default=600_000, help="chars per eval set")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    evals = build_split(args.out)
    cards = {}
    for name in args.recipes:
        if Path(args.out / "models" / f"{name}.card.json").exists():
            card = json.loads((args.out / "models" / f"{name}.card.json").read_text(encoding="utf-8"))
            card.setdefault("wall_s", float("nan"))
        else:
            card = train(args.out, name, RECIPES[name], args.vocab_size, args.max_mb)
        cards[name] = card
        print(f"{name}: {card['vocab_size']} pieces, train {card['timings_s']['train_s']:.0f} s, "
              f"total {card['wall_s']:.0f} s, peak RSS {card['peak_rss_mb']:.0f} MB", flush=True)  # fmt: skip

    from tokenizer.compare import compare, load_text_set
    from tokenizer.loaders import load_tokenizer
    from tokenizer.report import terminal_table, write_html, write_json

    tokenizers = [load_tokenizer(n, args.out / "models" / f"{n}.model") for n in args.recipes]
    tokenizers += [load_tokenizer(n, p) for n, p in BASELINES.items()]
    sets = [load_text_set(f"{n}={p}", max_chars=args.max_chars) for n, p in evals.items()]
    comparison = compare(tokenizers, sets)
    print(terminal_table(comparison))
    write_json(comparison, args.out / "compare.json")
    write_html(comparison, args.out / "compare.html", title="jpcorpus tokenizer benchmark (issue 6)")

    rows = {(r.tokenizer, r.text_set): r.row() for r in comparison.results}
    base = "llmjp-v2.1"
    print("\ntrade-off: Japanese compression against UD word-boundary F1 (targets vs llmjp-v2.1)")
    print(f"{'tokenizer':12} {'vocab':>7} {'aozora c/t':>10} {'gsd c/t':>8} {'vs v2.1':>8} {'gsd F1':>7} "
          f"{'en c/t':>7} {'code c/t':>8}")  # fmt: skip
    for tok in tokenizers:
        a, g = rows[(tok.name, "aozora")], rows[(tok.name, "ud_gsd")]
        e, c = rows[(tok.name, "english")], rows[(tok.name, "code")]
        ja = (a["chars_per_token"] + g["chars_per_token"]) / 2
        ja_base = (rows[(base, "aozora")]["chars_per_token"] + rows[(base, "ud_gsd")]["chars_per_token"]) / 2
        print(f"{tok.name:12} {tok.vocab_size:>7} {a['chars_per_token']:>10.3f} {g['chars_per_token']:>8.3f} "
              f"{100 * (ja / ja_base - 1):>+7.1f}% {g['boundary_f1']:>7.3f} {e['chars_per_token']:>7.3f} "
              f"{c['chars_per_token']:>8.3f}")  # fmt: skip
    eval_texts = sets[0].docs[:300] + sets[2].docs[:100]
    overhead = {n: wrapper_overhead(args.out / "models" / f"{n}.model", eval_texts) for n in args.recipes[:1]}
    print("\nencode throughput, tokens/s on one core:", json.dumps(overhead, indent=1))
    summary = {
        "cards": {
            n: {k: c[k] for k in ("vocab_size", "timings_s", "peak_rss_mb", "wall_s")} for n, c in cards.items()
        },
        "overhead": overhead,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
