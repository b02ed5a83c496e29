"""The ``floe-dbt`` command line: commands, log formatting, progress display, ``compare``."""

from floe_dbt_hooks.cli.main import main

__all__ = ["main"]
