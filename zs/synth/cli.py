"""click commands (parsing only; the work is done by library functions)."""

import click  # noqa: F401

commands: list = []
