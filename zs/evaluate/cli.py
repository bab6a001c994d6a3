"""click commands of zs.evaluate (parsing only; the work is done by zs.evaluate functions)."""

import click  # noqa: F401

commands: list = []
