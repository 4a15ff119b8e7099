"""Subcommands of the `scratchlab` command for this area (registered by `scratchlab.cli`)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this area's subcommands to the `scratchlab` parser."""
