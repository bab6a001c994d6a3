"""click commands of zs.adapt (parsing only; the work is done by zs.adapt functions)."""

import click  # noqa: F401

commands: list = []
