"""The portable path: PortableRunner + an EXTERNAL worker pool on 127.0.0.1, as a Flink/Spark cluster would run us.

The pool and the job run as subprocesses under hard timeouts, so a hang fails the test instead of stalling CI.
The shards must be byte-identical to the in-process FnApiRunner run: same input + config -> same output, whatever
the runner.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.run import run
from tests.conftest import REPO, TEST_DATA

INPUT = str(TEST_DATA / "text" / "mixed.jsonl")


def _start_pool():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.worker_pool", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("worker pool listening at "):
            return proc, line.rsplit(" ", 1)[-1].strip()
        if proc.poll() is not None:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("worker pool did not start")


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_portable_runner_with_external_worker_pool(tmp_path):
    assert run(["--input", INPUT, "--output", str(tmp_path / "local")]) == 0
    pool, address = _start_pool()
    assert address.startswith("127.0.0.1:")
    try:
        job = subprocess.run(
            [
                sys.executable,
                "-m",
                "jpcorpus.cli",
                "build",
                "--input",
                INPUT,
                "--output",
                str(tmp_path / "portable"),
                "--runner=PortableRunner",
                "--job_endpoint=embed",
                "--environment_type=EXTERNAL",
                f"--environment_config={address}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
    finally:
        os.killpg(pool.pid, signal.SIGKILL)
        pool.wait()
    assert job.returncode == 0, job.stderr[-3000:]
    local = json.loads((tmp_path / "local" / "manifest.json").read_text())
    portable = json.loads((tmp_path / "portable" / "manifest.json").read_text())
    assert portable["beam_options"]["runner"] == "PortableRunner"
    assert portable["stages"] == local["stages"]  # metrics travel back from the remote workers
    assert [s["sha256"] for s in portable["output"]["shards"]] == [s["sha256"] for s in local["output"]["shards"]]
    assert portable["output"]["documents"] == 3
