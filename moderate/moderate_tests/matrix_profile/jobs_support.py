"""Resources and inputs of the matrix_profile job tests."""

import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from kubernetes import client

from moderate.matrix_profile.launcher import WorkerLauncher
from moderate.matrix_profile.settings import LauncherKind, MatrixProfileSettings
from moderate.matrix_profile.subprocess_launcher import SubprocessWorkerLauncher
from moderate.resources import PlatformApiResource, S3Resource
from moderate_tests.doubles import API_ADMIN_PASSWORD, API_ADMIN_USERNAME
from moderate_tests.support.secrets import resource_with_secrets

FAKE_WORKER = Path(__file__).with_name("fake_worker.py")
POINTS_PER_DAY = 96
DAYS = 5


class FakeWorkerSettings(MatrixProfileSettings):
    """Runs the scripted stand-in worker instead of the real one."""

    def worker_launcher(self, kind: LauncherKind, timeout_s: int) -> WorkerLauncher:
        return SubprocessWorkerLauncher(
            command=(sys.executable, str(FAKE_WORKER)), poll_interval_s=0.05
        )


class KmockSettings(MatrixProfileSettings):
    """Kubernetes settings whose API client points at the kmock emulator."""

    api_url: str

    def kubernetes_api_client(self) -> client.ApiClient:
        configuration = client.Configuration()
        configuration.host = self.api_url
        configuration.verify_ssl = False
        return client.ApiClient(configuration)


def api_resource(url: str) -> PlatformApiResource:
    return resource_with_secrets(
        PlatformApiResource,
        {"password": API_ADMIN_PASSWORD},
        base_url=url,
        username=API_ADMIN_USERNAME,
        retry_base_delay_s=0.01,
    )


def load_csv() -> bytes:
    """Five days of a 15-minute load series with a temperature column."""
    stamps = pd.date_range("2025-03-01", periods=POINTS_PER_DAY * DAYS, freq="15min")
    phase = 2 * np.pi * np.arange(len(stamps)) / POINTS_PER_DAY
    noise = np.random.default_rng(7).normal(0, 0.4, len(stamps))
    frame = pd.DataFrame(
        {
            "timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"),
            "power": 20 + 6 * np.sin(phase) + noise,
            "temp": 8 + 3 * np.sin(phase - 1),
        }
    )
    return frame.to_csv(index=False).encode("utf-8")


def upload_input(s3: S3Resource, data: bytes | None = None) -> str:
    key = f"alice-assets/load-{uuid.uuid4()}.csv"
    s3.client().put_object(
        Bucket=s3.data_lake_bucket,
        Key=key,
        Body=data if data is not None else load_csv(),
    )
    return key


def analysis_run_config(job_id: int, bucket: str, key: str, variable: str) -> dict:
    return {
        "ops": {
            "run_matrix_profile_analysis": {
                "config": {
                    "workflow_job_id": job_id,
                    "analysis_variable": variable,
                    "bucket": bucket,
                    "key": key,
                }
            }
        }
    }
