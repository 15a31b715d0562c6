"""A local S3 endpoint for tests: moto's server mode in a subprocess, with one bucket."""

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator

from conftest import BIN, cli_env, free_port

KEYS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


@contextlib.contextmanager
def moto_s3(bucket: str) -> Iterator[dict[str, str]]:
    """Yields the environment (AWS_* keys and AWS_ENDPOINT_URL) that s3fs, boto3 and child processes need."""
    import boto3

    port = free_port()
    server = subprocess.Popen([str(BIN / "moto_server"), "-p", str(port)], env=cli_env(**KEYS),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:  # a few seconds to start on a busy machine
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline and server.poll() is None, "moto_server did not start"
                time.sleep(0.2)
        env = {**KEYS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="test", aws_secret_access_key="test",
                     region_name="us-east-1").create_bucket(Bucket=bucket)
        yield env
    finally:
        server.kill()
        server.wait()
