"""Issue 6 benchmark: our mixed ja/en/code vocabulary against LLM-jp v2.1/v2.2, cl100k and o200k.

Builds a train/held-out split of ../shared/data (Aozora works by file hash, the tail of every English file,
code files by path hash), trains one vocabulary per recipe (pre-segmentation off / Sudachi A / B / C, per-language
merge), records wall time and peak RSS of each training run (each in its own process, so RSS is its own), then
measures everything with ``jpcorpus tokenizer compare`` on text none of the models trained on. Prints the
trade-off table (Japanese chars/token against UD word-boundary F1) and the wrapper-overhead figures.

    make demo-build   # the demo pipeline's Japanese shards (jawiki sample + web pages) join Aozora for training
    nice -n 10 .venv/bin/python bench/bench_tokenizer.py --out /tmp/tokbench2 --recipes default default+particles

Writes bench/results/tokenizer_tradeoff.png (the curve) and tokenizer_bench.json. Nothing here is asserted; the
figures go in docs/tokenizer.md and the closing note of issue 6.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
LLMJP = DATA / "llm-jp-tokenizer" / "models"
BASELINES = {
    "llmjp-v2.1": LLMJP / "code10k_en20k_ja30k.ver2.1.model",
    "llmjp-v2.2": LLMJP / "code10K_en20K_ja30K.ver2.2.model",
    "cl100k": DATA / "tokenizers_other" / "cl100k_base.tiktoken",
    "o200k": DATA / "tokenizers_other" / "o200k_base.tiktoken",
}
# name -> --set overrides; the default config (configs/tokenizer_default.toml) is the base, so every recipe
# spells out what it changes. Together they are the points of the trade-off curve in docs/tokenizer.md.
# Rows measured before the round-3 default start from ROUND2 (the round-2 default restored), so they mean today
# what they meant when measured; the bench retrains a cached model whose card says otherwise.
PL = "per_language.enabled"
ROUND2 = [
    'preseg.join=["aux"]',
    "per_language.vocab_sizes={ja=36000,en=7000,code=2500}",
    "user_defined_symbols=[]",
]
VOCAB_28_7_15 = "per_language.vocab_sizes={ja=28000,en=7000,code=1500}"
LIT_JOIN = 'preseg.join=["aux","nominal","final"]'
LIT_SYM_JOIN = 'preseg.join=["aux","nominal","final","symbols"]'
# Newline pieces, in the TOML escapes --set takes: paragraph indent, dialogue line start, line ends, both.
LINE_PIECES_4 = r'user_defined_symbols=["\n\u3000", "。\n", "」\n", "\n「"]'
LINE_PIECES_8 = (
    r'user_defined_symbols=["\n\u3000", "\n「", "。\n", "」\n", "。\n\u3000", "。\n「", "」\n\u3000", "」\n「"]'
)
RECIPES: dict[str, list[str]] = {
    "plain": [*ROUND2, "preseg.analyzer=none", f"{PL}=false"],
    "sudachiA": [*ROUND2, "preseg.sudachi_mode=A", "preseg.join=[]", f"{PL}=false"],
    "sudachiB": [*ROUND2, "preseg.sudachi_mode=B", "preseg.join=[]", f"{PL}=false"],
    "sudachiA+aux": [*ROUND2, "preseg.sudachi_mode=A", 'preseg.join=["aux"]', f"{PL}=false"],
    "perlang-A-sp-seed": [*ROUND2, "preseg.sudachi_mode=A", "preseg.join=[]", "preseg.seed_from_chunks=false",
                          f"{PL}=true"],
    "perlang-A": [*ROUND2, "preseg.sudachi_mode=A", "preseg.join=[]", f"{PL}=true"],
    "perlang-B": [*ROUND2, "preseg.sudachi_mode=B", "preseg.join=[]", f"{PL}=true"],
    "perlang-A+aux": [*ROUND2, "preseg.sudachi_mode=A", 'preseg.join=["aux"]', f"{PL}=true"],
    "perlang-A+aux+stem+part": [*ROUND2, "preseg.sudachi_mode=A", 'preseg.join=["aux","stem","particles"]',
                                f"{PL}=true"],
    "round2-default": ROUND2,
    "default+particles": [*ROUND2, 'preseg.join=["aux","particles"]'],
    "previous-default": [*ROUND2, "per_language.vocab_sizes={ja=36000,en=9000,code=6000}",
                         "per_language.fill_from_chunks=false"],
    # Round 3: one change each against the round-2 default (docs/tokenizer.md).
    "en6k-code1.5k": [*ROUND2, "per_language.vocab_sizes={ja=36000,en=6000,code=1500}"],
    "code1.5k": [*ROUND2, "per_language.vocab_sizes={ja=36000,en=7000,code=1500}"],
    "ja28k": [*ROUND2, "per_language.vocab_sizes={ja=28000,en=7000,code=2500}"],
    "margin1.0": [*ROUND2, "per_language.chunk_start_margin=1.0"],
    "fill-saved-tokens": [*ROUND2, "per_language.fill_rank=saved_tokens"],
    "coverage1.0": [*ROUND2, "character_coverage=1.0"],
    "A+aux+nominal+final": [*ROUND2, LIT_JOIN],
    "A+aux+pronoun+nominal+final": [*ROUND2, 'preseg.join=["aux","pronoun","nominal","final"]'],
    "indent-piece": [*ROUND2, r'user_defined_symbols=["\n\u3000"]'],
    "line-pieces": [*ROUND2, LINE_PIECES_4],
    "symbols": [*ROUND2, 'preseg.join=["aux","symbols"]'],
    # Stacks of the one-change rows that helped; the last one became the default.
    "combo": [LIT_JOIN, "character_coverage=1.0", VOCAB_28_7_15, LINE_PIECES_4],
    "combo-ja20k-code1k": [LIT_JOIN, "character_coverage=1.0", LINE_PIECES_4,
                           "per_language.vocab_sizes={ja=20000,en=7000,code=1000}"],
    "combo2": [LIT_SYM_JOIN, "character_coverage=1.0", VOCAB_28_7_15, LINE_PIECES_8],
    # Round-3 default: literary joins + punctuation runs, 8 newline pieces, ja 28k / en 7k / code 1.5k.
    "default": [],
}  # fmt: skip
# Training bytes per group. All the Japanese text (12.3 MB Aozora train split + 3 x 5.2 MB demo shards), the
# English and code amounts of the earlier 25 MB runs (6.25 / 3.75 MB), so en/code figures stay comparable.
DEFAULT_GROUP_MB = "ja=28,en=6.25,code=3.75"
# The demo shards (modern jawiki + web text) are offered 3 times: Aozora (pre-1950 literature) is 70% of the
# Japanese text otherwise, and the Japanese an LLM corpus holds is mostly modern web text.
DEFAULT_JA_EXTRA_REPEAT = 3
DEFAULT_CONFIG = REPO / "configs" / "tokenizer_default.toml"
DEFAULT_JA_EXTRA = REPO / "demo-out" / "shards"  # `make demo-build`: jawiki sample + web pages, Japanese only


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


def train(
    out: Path, name: str, overrides: list[str], vocab_size: int, group_mb: dict[str, float], ja_extra: list[Path],
    ja_extra_repeat: int,
) -> dict:  # fmt: skip
    split = out / "split" / "train"
    prefix = out / "models" / name
    cmd = [
        sys.executable, "-m", "jpcorpus", "tokenizer", "train",
        "--input", f"ja={split / 'aozora'}", *(f"ja*{ja_extra_repeat}={p}" for p in ja_extra),
        f"en={split / 'english.txt'}", f"code={split / 'code.jsonl'}",
        "--output", str(prefix), "--config", str(DEFAULT_CONFIG), "--vocab-size", str(vocab_size),
    ]  # fmt: skip
    for o in run_overrides(overrides, group_mb):
        cmd += ["--set", o]
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, cwd=REPO)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    card = json.loads(Path(f"{prefix}.card.json").read_text(encoding="utf-8"))
    card["wall_s"] = time.perf_counter() - t0
    # CPU seconds of the training process: comparable across runs on a box shared with other jobs.
    card["cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # Kept in the card, so a rerun that reuses the model still reports how long it took to train.
    Path(f"{prefix}.card.json").write_text(json.dumps(card, ensure_ascii=False, indent=1), encoding="utf-8")
    return card


def run_overrides(overrides: list[str], group_mb: dict[str, float]) -> list[str]:
    """The --set overrides of one training run: the byte budget per group, then the recipe's own."""
    budget = [
        f"sampling.max_bytes={int(sum(group_mb.values()) * 1e6)}",
        "sampling.group_ratios={" + ",".join(f"{g}={mb}" for g, mb in group_mb.items()) + "}",
    ]
    return budget + overrides


def resolved_options(overrides: list[str], group_mb: dict[str, float], vocab_size: int) -> dict:
    """The options a run of this recipe would train with (what its card records), from today's default config."""
    from jpcorpus.config import from_dict, load_toml, parse_overrides, replace_dotted, to_dict
    from tokenizer.config import TokenizerTrainConfig

    settings = parse_overrides(run_overrides(overrides, group_mb))
    settings["vocab_size"] = vocab_size
    config = replace_dotted(from_dict(TokenizerTrainConfig, load_toml(DEFAULT_CONFIG)), settings)
    return json.loads(json.dumps(to_dict(config), ensure_ascii=False))


def same_options(trained: dict, wanted: dict, defaults: dict | None = None) -> bool:
    """True if a card's options are ``wanted``; an option the card lacks (added to the code after it was
    trained) counts as equal when ``wanted`` has its built-in default, which is what the code did before."""
    if defaults is None:
        from jpcorpus.config import to_dict
        from tokenizer.config import TokenizerTrainConfig

        defaults = json.loads(json.dumps(to_dict(TokenizerTrainConfig()), ensure_ascii=False))
    for key, value in wanted.items():
        if key not in trained:
            if value != defaults.get(key):
                return False
        elif isinstance(value, dict) and isinstance(trained[key], dict) and isinstance(defaults.get(key), dict):
            if not same_options(trained[key], value, defaults[key]):
                return False
        elif trained[key] != value:
            return False
    return set(trained) <= set(wanted)


def plot_tradeoff(points: list[dict], path: Path) -> None:
    """Japanese compression (vs llm-jp v2.1) against UD-GSD word-boundary F1, the issue's target box shaded.

    Points near the target corner crowd each other, so they are labelled in a zoomed inset instead.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6.5))
    base = next(p for p in points if p["name"] == "llmjp-v2.1")
    zoom_x, zoom_y = (base["gsd_f1"] - 0.006, base["gsd_f1"] + 0.0045), (7.5, 10.6)

    def in_zoom(p: dict) -> bool:
        return zoom_x[0] <= p["gsd_f1"] <= zoom_x[1] and zoom_y[0] <= p["ja_vs_v21_pct"] <= zoom_y[1]

    def draw(axes: Any, labels: bool, zoomed: bool) -> None:
        axes.fill_between([base["gsd_f1"], 1.0], 10, 40, color="#dff0d8", label="target: F1 >= v2.1 and ja >= +10%")
        for p in points:
            ours = p["kind"] == "ours"
            color = "#d62728" if p["name"] == "default" else ("#1f77b4" if ours else "#7f7f7f")
            axes.scatter(p["gsd_f1"], p["ja_vs_v21_pct"], s=50 if ours else 40, marker="o" if ours else "s",
                         color=color, zorder=3)  # fmt: skip
            if labels and in_zoom(p) == zoomed:
                axes.annotate(p["name"], (p["gsd_f1"], p["ja_vs_v21_pct"]), textcoords="offset points",
                              fontsize=6.5 if zoomed else 8,
                              xytext=(5, -11) if p.get("run", "").startswith("25 MB") else (4, 2))  # fmt: skip
        axes.axhline(10, color="#2ca02c", lw=0.8, ls="--")
        axes.axvline(base["gsd_f1"], color="#2ca02c", lw=0.8, ls="--")
        axes.grid(alpha=0.3)

    draw(ax, labels=True, zoomed=False)
    ax.set_xlabel("UD Japanese-GSD dev word-boundary F1 (higher is better)")
    ax.set_ylabel("Japanese chars/token vs llm-jp v2.1, % (Aozora held out + GSD dev)")
    ax.set_title("Japanese compression against word-boundary F1 at <= 50,570 pieces")
    ax.set_xlim(min(p["gsd_f1"] for p in points) - 0.02, 0.96)
    ax.set_ylim(min(p["ja_vs_v21_pct"] for p in points) - 5, max(p["ja_vs_v21_pct"] for p in points) + 5)
    ax.legend(loc="lower left", fontsize=8)
    inset = ax.inset_axes((0.05, 0.44, 0.52, 0.53))
    draw(inset, labels=True, zoomed=True)
    inset.set_xlim(*zoom_x)
    inset.set_ylim(*zoom_y)
    inset.tick_params(labelsize=7)
    ax.indicate_inset_zoom(inset, edgecolor="#555555")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    parser.add_argument("--vocab-size", type=int, default=50570)
    parser.add_argument("--group-mb", default=DEFAULT_GROUP_MB, help="training text in MB per group")
    parser.add_argument(
        "--ja-extra-repeat",
        type=int,
        default=DEFAULT_JA_EXTRA_REPEAT,
        help="times each --ja-extra document is offered to the sampler",
    )
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--max-chars", type=int, default=600_000, help="chars per eval set")
    parser.add_argument(
        "--ja-extra", type=Path, nargs="*", default=[DEFAULT_JA_EXTRA],
        help="more Japanese training text (default: the demo pipeline's shards; none: Aozora only)",
    )  # fmt: skip
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results",
                        help="where tokenizer_tradeoff.png and tokenizer_bench.json go")  # fmt: skip
    args = parser.parse_args()
    for p in args.ja_extra:
        if not p.exists():
            sys.exit(f"{p} not found: run `make demo-build` first, or pass --ja-extra with no paths for Aozora only")
    group_mb = {g: float(mb) for g, mb in (item.split("=") for item in args.group_mb.split(","))}
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    evals = build_split(args.out)
    cards = {}
    for name in args.recipes:
        card_path = args.out / "models" / f"{name}.card.json"
        card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.exists() else None
        # A model left by an earlier run is reused only if it was trained with the options this recipe means
        # today (the default config it is relative to may have changed since).
        if card is not None and not same_options(
            card["options"], resolved_options(RECIPES[name], group_mb, args.vocab_size)
        ):
            print(f"{name}: {card_path} was trained with other options; training again", flush=True)
            card = None
        if card is not None:
            card.setdefault("wall_s", float("nan"))
            card.setdefault("cpu_s", float("nan"))
        else:
            card = train(args.out, name, RECIPES[name], args.vocab_size, group_mb, args.ja_extra, args.ja_extra_repeat)
        cards[name] = card
        print(f"{name}: {card['vocab_size']} pieces, train {card['timings_s']['train_s']:.0f} s, "
              f"total {card['wall_s']:.0f} s wall / {card['cpu_s']:.0f} s CPU, peak RSS {card['peak_rss_mb']:.0f} MB",
              flush=True)  # fmt: skip

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
    ja_base = (rows[(base, "aozora")]["chars_per_token"] + rows[(base, "ud_gsd")]["chars_per_token"]) / 2
    print("\ntrade-off: Japanese compression against UD word-boundary F1 (targets vs llmjp-v2.1)")
    print(f"{'tokenizer':24} {'vocab':>7} {'aozora':>7} {'gsd':>6} {'vs v2.1':>8} {'P':>6} {'R':>6} {'F1':>6} "
          f"{'en':>6} {'code':>6}  (chars/token; P/R/F1: UD-GSD dev word boundaries)")  # fmt: skip
    points = []
    for tok in tokenizers:
        a, g = rows[(tok.name, "aozora")], rows[(tok.name, "ud_gsd")]
        e, c = rows[(tok.name, "english")], rows[(tok.name, "code")]
        ja = (a["chars_per_token"] + g["chars_per_token"]) / 2
        point = {
            "name": tok.name,
            "kind": "ours" if tok.name in cards else "baseline",
            "vocab_size": tok.vocab_size,
            "aozora_chars_per_token": a["chars_per_token"],
            "gsd_chars_per_token": g["chars_per_token"],
            "ja_vs_v21_pct": 100 * (ja / ja_base - 1),
            "gsd_precision": g["boundary_precision"],
            "gsd_recall": g["boundary_recall"],
            "gsd_f1": g["boundary_f1"],
            "en_chars_per_token": e["chars_per_token"],
            "code_chars_per_token": c["chars_per_token"],
        }
        if tok.name in cards:
            card = cards[tok.name]
            point["run"] = f"group_mb={args.group_mb}, ja_extra x{args.ja_extra_repeat}, vocab {args.vocab_size}"
            point.update(recipe=RECIPES[tok.name], wall_s=card["wall_s"], cpu_s=card["cpu_s"],
                         peak_rss_mb=card["peak_rss_mb"], timings_s=card["timings_s"])  # fmt: skip
        points.append(point)
        print(f"{tok.name:24} {tok.vocab_size:>7} {point['aozora_chars_per_token']:>7.3f} "
              f"{point['gsd_chars_per_token']:>6.3f} {point['ja_vs_v21_pct']:>+7.1f}% {point['gsd_precision']:>6.3f} "
              f"{point['gsd_recall']:>6.3f} {point['gsd_f1']:>6.3f} {point['en_chars_per_token']:>6.3f} "
              f"{point['code_chars_per_token']:>6.3f}")  # fmt: skip
    eval_texts = sets[0].docs[:300] + sets[2].docs[:100]
    first = "default" if "default" in args.recipes else args.recipes[0]
    overhead = {first: wrapper_overhead(args.out / "models" / f"{first}.model", eval_texts)}
    print("\nencode throughput, tokens/s on one core:", json.dumps(overhead, indent=1))
    # Points of earlier runs (other corpus budgets) stay on the curve, marked with the run they came from.
    results_json = args.results / "tokenizer_bench.json"
    if results_json.exists():
        previous = json.loads(results_json.read_text(encoding="utf-8"))
        run_names = {p["name"] for p in points}
        for p in previous["points"]:
            if p["kind"] != "ours":
                continue
            if "run" not in p:  # written before runs were labelled: the 25 MB, vocab 50,000 runs
                p["run"] = "25 MB, demo shards x1, vocab 50000"
                p["name"] += " (25MB)" if p["name"] in run_names else ""
            if p["name"] not in run_names:
                points.append(p)
                run_names.add(p["name"])
    summary = {"group_mb": group_mb, "ja_extra": [str(p) for p in args.ja_extra],
               "ja_extra_repeat": args.ja_extra_repeat, "points": points, "overhead": overhead}  # fmt: skip
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    args.results.mkdir(parents=True, exist_ok=True)
    plot_tradeoff(points, args.results / "tokenizer_tradeoff.png")
    (args.results / "tokenizer_bench.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(f"wrote {args.results / 'tokenizer_tradeoff.png'} and tokenizer_bench.json")


if __name__ == "__main__":
    main()
