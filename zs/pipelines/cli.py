"""click commands of zs.pipelines (parsing only; the work is done by zs.pipelines functions)."""

import click  # noqa: F401

commands: list = []
