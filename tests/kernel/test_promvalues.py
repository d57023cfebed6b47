"""``sincro.promvalues``: in multiprocess mode prometheus_client's values take the process id
from a cached value (no ``getpid`` system call per sample), and a forked child still writes
files of its own, so ``/metrics`` adds every process's samples exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, sys

    import sincro  # installs the cheaper process id before any metric exists
    from prometheus_client import CollectorRegistry, Counter, values
    from prometheus_client.multiprocess import MultiProcessCollector
    from sincro import promvalues

    assert values.ValueClass._sincro

    calls = []
    real = os.getpid

    def counted():
        calls.append(1)
        return real()

    os.getpid = counted  # the samples below must not ask the system
    hits = Counter("sincro_test_hits", "test", ["kind"])
    child = hits.labels("a")
    child.inc()
    for _ in range(100):
        child.inc(0)
    assert not calls, len(calls)
    os.getpid = real

    pid = os.fork()
    if pid == 0:  # the child: its own file, its own value starting at what the files say
        assert promvalues.process_id() == os.getpid()
        hits.labels("a").inc(2)
        os._exit(0)
    os.waitpid(pid, 0)
    child.inc(3)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    total = registry.get_sample_value("sincro_test_hits_total", {"kind": "a"})
    files = sorted(os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    print(total, len(files))
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_samples_skip_getpid_and_a_forked_child_writes_its_own_file(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2] / "src"), *sys.path])
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # 1 + 3 in the parent's file, 2 in the child's: a child writing the parent's file would
    # leave 4 (its 1 + 2 overwritten by the parent's 1 + 3)
    assert done.stdout.split() == ["6.0", "2"]
