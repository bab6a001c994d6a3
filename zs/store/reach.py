"""Is an object-store location usable? One request before any work, a one-line error if not.

For ``s3://bucket/path`` (and gs://, az://, ...) the bucket is looked up once per
process: a missing bucket, refused credentials or an unreachable endpoint
becomes a :class:`StoreError` naming the URL (and the endpoint), never the
credentials. Other locations (local paths, ``memory://``) need no check.
"""

from __future__ import annotations

import os

from zs.errors import StoreError

BUCKET_PROTOCOLS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"}
_OK: set[str] = set()  # buckets found reachable in this process
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS")
_SECRET_OPTS = ("key", "secret", "token", "aws_access_key_id", "aws_secret_access_key", "aws_session_token",
                "account_key", "sas_token", "client_secret")


def check_reachable(loc) -> None:
    """StoreError unless the bucket holding ``loc`` (a zs.store.layout.Location) exists and answers."""
    protocols = {loc.fs.protocol} if isinstance(loc.fs.protocol, str) else set(loc.fs.protocol)
    if loc.is_local or not protocols & BUCKET_PROTOCOLS:
        return
    bucket = loc.root.strip("/").split("/")[0]
    key = f"{sorted(protocols)[0]}://{bucket}"
    if key in _OK:
        return
    try:
        info = loc.fs.info(bucket)
    except FileNotFoundError:
        raise StoreError(f"{loc.url}: bucket '{bucket}' does not exist{_at(loc)}") from None
    except PermissionError as e:
        raise StoreError(f"{loc.url}: access to bucket '{bucket}' refused{_at(loc)} "
                         f"({_scrub(str(e), loc)}); check the credentials") from None
    except Exception as e:  # noqa: BLE001 - connection errors of any fsspec backend
        raise StoreError(f"{loc.url}: cannot reach the object store{_at(loc)} "
                         f"({type(e).__name__}: {_scrub(str(e), loc)})") from None
    if info.get("type") not in (None, "directory"):
        raise StoreError(f"{loc.url}: '{bucket}' is a file, not a bucket")
    _OK.add(key)


def endpoint(loc) -> str | None:
    """The endpoint URL of an S3-compatible filesystem (client_kwargs or AWS_ENDPOINT_URL), if any."""
    opts = getattr(loc.fs, "storage_options", {}) or {}
    return ((opts.get("client_kwargs") or {}).get("endpoint_url") or opts.get("endpoint_url")
            or (os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
                if "s3" in str(loc.fs.protocol) else None))


def _at(loc) -> str:
    ep = endpoint(loc)
    return f" (endpoint {ep})" if ep else ""


def _scrub(msg: str, loc) -> str:
    """The message with every configured secret value replaced by '***'."""
    opts = getattr(loc.fs, "storage_options", {}) or {}
    secrets = [os.environ.get(k) for k in _SECRET_ENV] + [opts.get(k) for k in _SECRET_OPTS]
    for s in secrets:
        if isinstance(s, str) and len(s) >= 4:
            msg = msg.replace(s, "***")
    return msg.splitlines()[0] if msg else msg
