"""click commands of zs.generate (parsing only; the work is done by zs.generate functions)."""

import click  # noqa: F401

commands: list = []
