"""click commands of zs.extract (parsing only; the work is done by zs.extract functions)."""

import click  # noqa: F401

commands: list = []
