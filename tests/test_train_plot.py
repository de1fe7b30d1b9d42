import json

import pytest

from jpcorpus.errors import UsageError
from train.plot import plot_losses, read_losses


def test_loss_curve_png_from_metrics(tmp_path):
    lines = [
        {"step": 5, "loss": 8.0, "lr": 1e-3},
        {"step": 10, "loss": 7.2},
        {"step": 10, "val_loss": 7.4},
        {"event": "checkpoint", "step": 10},
    ]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    train, val = read_losses(tmp_path / "metrics.jsonl")
    assert train == [(5, 8.0), (10, 7.2)] and val == [(10, 7.4)]
    out = tmp_path / "loss.png"
    plot_losses(train, val, "t", out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_losses_is_a_clear_error(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"event": "start"}\n')
    with pytest.raises(UsageError, match="no loss values"):
        read_losses(tmp_path / "metrics.jsonl")
    with pytest.raises(UsageError, match="no metrics file"):
        read_losses(tmp_path / "missing.jsonl")
