"""Sincro: real-time inventory and operations hub for retailers with many stores."""

from sincro import promvalues

__version__ = "0.1.0"

promvalues.install()  # before any module makes a metric (see sincro.promvalues)
