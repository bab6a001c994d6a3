"""click commands of zs.store (parsing only; the work is done by zs.store functions)."""

import json
import sys

import click


@click.group("store")
def store_group() -> None:
    """Inspect, check and repair feature stores."""


@store_group.command("info")
@click.argument("store")
@click.option("--json", "as_json", is_flag=True, help="Print the full summary (every class, every array) as JSON.")
@click.option("--per-class", is_flag=True, help="List the matched queries of every class (default: the most "
                                                  "and least matched).")
def info_cmd(store: str, as_json: bool, per_class: bool) -> None:
    """Summary of STORE: manifest, per split the counts, the most and least matched classes, bytes."""
    from zs.store.info import format_info, store_info

    info = store_info(store)
    click.echo(json.dumps(info, indent=2) if as_json else format_info(info, per_class=per_class))


@store_group.command("verify")
@click.argument("store")
@click.option("--json", "as_json", is_flag=True, help="Print {ok, problems} as JSON.")
@click.option("--progress/--no-progress", default=False, help="Show a progress bar while scanning arrays.")
def verify_cmd(store: str, as_json: bool, progress: bool) -> None:
    """Check STORE; exit 0 when sound, 1 with a list of problems otherwise.

    Checks done flags vs tables, array shapes vs split.json/manifest, NaN/Inf in
    embeddings, unreadable or truncated parquet, missing or corrupt chunks,
    manifest mismatches (vocabulary hash, text embeddings).
    """
    from zs.store.verify import problems_as_json, verify_store

    problems = verify_store(store, progress=progress)
    if as_json:
        click.echo(problems_as_json(problems))
    elif problems:
        click.echo(f"{store}: {len(problems)} problem(s)")
        for p in problems:
            click.echo(f"  - {p}")
    else:
        click.echo(f"{store}: ok")
    sys.exit(1 if problems else 0)


@store_group.command("unlock")
@click.argument("store")
@click.argument("split")
def unlock_cmd(store: str, split: str) -> None:
    """Remove the writer locks of SPLIT (only when you know the writers are gone)."""
    from zs.store.lock import break_locks
    from zs.store.store import open_store

    s = open_store(store, mode="a")
    if not s._loc.exists(split):
        from zs.errors import StoreError

        raise StoreError(f"{s.url}: no split '{split}' (have: {', '.join(s.splits) or 'none'})")
    names = break_locks(s._loc, split)
    click.echo(f"removed {len(names)} lock(s): {', '.join(names) or '-'}")


@store_group.command("consolidate")
@click.argument("store")
@click.argument("split")
def consolidate_cmd(store: str, split: str) -> None:
    """Build SPLIT's tables from the rows its writers (e.g. `zs extract --shard I/N` jobs) finished.

    Exit 0 when every row is done (split complete), 1 when rows are missing
    (rerun the shards that failed, or `zs extract` without --shard).
    """
    from zs.store.store import open_store

    s = open_store(store, mode="a")
    s.split(split)  # StoreError naming the splits if there is no such split
    meta = s.finalize_split(split)
    done, n = meta["consolidated_rows"], meta["num_images"]
    click.echo(f"{s.url} [{split}]: {done}/{n} rows consolidated ({meta['status']})")
    sys.exit(0 if done == n else 1)


commands: list = [store_group]
