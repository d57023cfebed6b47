"""Sincro: real-time inventory and operations hub for retailers with many stores."""

__version__ = "0.1.0"
