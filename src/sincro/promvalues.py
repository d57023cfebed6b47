"""Prometheus samples in multiprocess mode without a system call each.

With ``PROMETHEUS_MULTIPROC_DIR`` set (several api workers), every ``inc``/``observe``/``set``
of prometheus_client asks ``os.getpid()`` under its lock, to notice a fork (a child must write
files of its own). glibc no longer caches the pid: that is a system call per sample, four or
more per reservation (~2 % of its api CPU). :func:`install` gives the multiprocess value class
the documented ``process_identifier`` it accepts: the pid read once, and read again in a
forked child (``os.register_at_fork``), so a fork is still noticed at the child's first sample
and each process still writes its own files.

It runs when the package is imported (``sincro/__init__.py``), before any metric is made: a
value made through the library's first class would write the same file through another
mapping than the values made after.
"""

from __future__ import annotations

import os

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def process_id() -> int:
    """This process's id, without a system call (refreshed in a forked child)."""
    return _pid


def install() -> None:
    """In multiprocess mode, make prometheus_client's values identify their process with
    :func:`process_id` (once; nothing to do in single-process mode)."""
    from prometheus_client import values

    current = values.ValueClass
    if getattr(current, "_multiprocess", False) and not getattr(current, "_sincro", False):
        cheap = values.MultiProcessValue(process_identifier=process_id)
        cheap._sincro = True
        values.ValueClass = cheap
