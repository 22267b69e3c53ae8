"""A Dask cluster on this machine, as ``qa index add --cluster`` reaches one elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.conftest import ROOT, free_port


class LocalCluster:
    """A Dask scheduler and worker processes on 127.0.0.1, for tests and benchmarks (nothing listens beyond
    loopback; no dashboard, no nanny: a killed worker stays dead)."""

    def __init__(self, workers: int) -> None:
        self.address = f"tcp://127.0.0.1:{free_port()}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        start = [sys.executable, "-m"]
        self.scheduler = subprocess.Popen(
            [*start, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1],
             "--no-dashboard"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.workers = [subprocess.Popen(
            [*start, "distributed.cli.dask_worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
             "--no-nanny", "--no-dashboard"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(workers)]
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(self.address, timeout=5) as client:
                    client.wait_for_workers(workers, timeout=max(1, deadline - time.monotonic()))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise

    def stop(self) -> None:
        """Kill the scheduler and the workers."""
        for process in [*self.workers, self.scheduler]:
            process.kill()
            process.wait()
