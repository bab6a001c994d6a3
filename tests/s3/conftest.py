"""A local S3-compatible server for the object-store tests: moto's standalone server on 127.0.0.1.

The server runs as its own process (``python -m moto.server``) on a free port and
is stopped after the session. Clients find it the standard way, through the
environment that botocore/s3fs read (as a user would point zs at MinIO or a
cloud endpoint): ``AWS_ENDPOINT_URL`` plus dummy credentials and region.
Subprocesses (``zs extract``, dask workers) inherit it.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "zs-test-key-id", "AWS_SECRET_ACCESS_KEY": "zs-test-secret-value",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "2"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, proc, timeout: float = 60.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"moto server at {url} did not answer within {timeout}s")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """URL of a running local S3 server; the AWS_* environment points at it for the session."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    old = {k: os.environ.get(k) for k in [*CREDENTIALS, "AWS_ENDPOINT_URL"]}
    try:
        _wait_until_up(url + "/moto-api/", proc)
        os.environ.update({**CREDENTIALS, "AWS_ENDPOINT_URL": url})
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def bucket(s3_endpoint, request):
    """A new empty bucket (named after the test) on the local server."""
    import s3fs

    name = "zs-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:50].strip("-")
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint}, use_listings_cache=False)
    fs.mkdir(name)
    return name


@pytest.fixture(scope="session")
def tiny_seg_dir(tmp_path_factory):
    from toyworld.extract_inputs import TINY_CATEGORIES, tiny_segmenter_dir

    return tiny_segmenter_dir(tmp_path_factory.mktemp("seg") / "seg", len(TINY_CATEGORIES), seed=0, image_size=64)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """DIR with DIR/val/{images,panoptic,panoptic.json} (12 tiny images) and DIR/unseen.txt."""
    from toyworld.extract_inputs import write_tiny_coco_panoptic

    root = tmp_path_factory.mktemp("data")
    write_tiny_coco_panoptic(root / "val", 12, seed=1)
    (root / "unseen.txt").write_text("stripe\ngrass\n")
    return root
