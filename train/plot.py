"""``jpcorpus plot-loss --run DIR``: draw a run's training and validation loss (from ``metrics.jsonl``) to a PNG.

Lines without a ``loss`` or ``val_loss`` (events, throughput-only records) are skipped; a file with no loss at all
is a clear error, not an empty picture.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jpcorpus.errors import UsageError


def read_losses(metrics_path: Path) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(step, train loss) and (step, validation loss) pairs from a ``metrics.jsonl`` file."""
    if not metrics_path.is_file():
        raise UsageError(f"no metrics file: {metrics_path}")
    train, val = [], []
    for line_no, line in enumerate(metrics_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{metrics_path}:{line_no}: not JSON: {exc}") from exc
        if "loss" in record:
            train.append((int(record["step"]), float(record["loss"])))
        if "val_loss" in record:
            val.append((int(record["step"]), float(record["val_loss"])))
    if not train and not val:
        raise UsageError(f"{metrics_path}: no loss values")
    return train, val


def plot_losses(train: list[tuple[int, float]], val: list[tuple[int, float]], title: str, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", color="tab:blue")
    if val:
        ax.plot(*zip(*val, strict=True), "o-", label="validation loss", color="tab:orange")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, metavar="DIR", help="a training run directory (has metrics.jsonl)")
    parser.add_argument("--output", metavar="FILE.png", help="default: DIR/loss.png")


def main(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        raise UsageError(f"unexpected arguments {extra}")
    run_dir = Path(args.run)
    train, val = read_losses(run_dir / "metrics.jsonl")
    output = Path(args.output) if args.output else run_dir / "loss.png"
    plot_losses(train, val, f"{run_dir.name}: {len(train)} train / {len(val)} validation points", output)
    print(f"loss curve: {output} (last train loss {train[-1][1]:.3f})" if train else f"loss curve: {output}")
    return 0
