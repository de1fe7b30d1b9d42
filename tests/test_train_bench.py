"""bench/bench_train.py runs on CPU with the debug preset and reports what the GPU check will report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_bench_train_cpu_debug_writes_its_results(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "bench/bench_train.py", "--device", "cpu", "--preset", "debug", "--steps", "3"]
    cmd += ["--warmup-steps", "1", "--seq-len", "64", "--micro-batch-size", "2", "--json", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tokens/s" in proc.stdout
    result = json.loads(out.read_text())
    assert result["timed_steps"] == 3 and result["world_size"] == 1 and result["mode"] == "fsdp"
    assert result["tokens_per_s"] > 0 and result["mfu"] is None  # no peak figure for a CPU
    assert result["flops_per_token"] > 6 * result["num_params"] * 0.5
    assert result["final_loss"] > 0 and result["notes"] == []
