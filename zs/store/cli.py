"""click commands of zs.store (parsing only; the work is done by zs.store functions)."""

import click  # noqa: F401

commands: list = []
