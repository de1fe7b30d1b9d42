"""A Beam external worker pool for the portable runner, bound to loopback, that starts workers with *this* Python.

Beam's own ``worker_pool_main`` listens on every interface and starts each SDK worker with a bare ``python``
from PATH: outside the virtualenv that is a different interpreter without our packages, and the job hangs
silently. This launcher puts the running interpreter's directory first on PATH and binds to 127.0.0.1 (or the
address given), so ``--environment_type=EXTERNAL --environment_config=127.0.0.1:PORT`` works from a venv.

    python -m pipeline.worker_pool --port 50000
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
from apache_beam.utils import thread_pool_executor

log = logging.getLogger(__name__)


def start(host: str = "127.0.0.1", port: int = 0) -> tuple[str, grpc.Server]:
    """Start the pool in this process; returns (``host:port``, server). Workers are subprocesses of this process."""
    bin_dir = os.path.dirname(sys.executable)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    server = grpc.server(
        thread_pool_executor.shared_unbounded_instance(),
        options=[("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)],
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind the worker pool to {host}:{port}")
    servicer = BeamFnExternalWorkerPoolServicer(use_process=True, state_cache_size=0, data_buffer_time_limit_ms=-1)
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(servicer, server)
    server.start()
    return f"{host}:{bound}", server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.worker_pool", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    parser.add_argument("--port", type=int, required=True, help="port to bind (0: any free port)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    address, server = start(args.host, args.port)
    # The test harness and scripts wait for this exact line to know the pool is ready.
    print(f"worker pool listening at {address}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
