"""The analysis Job manifest: schema-valid, locked down, no secrets."""

import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes import client

from moderate.matrix_profile.kubernetes_launcher import (
    WorkerJobSpec,
    build_job,
    build_secret,
    job_name,
)
from moderate.matrix_profile.launcher import WorkerRequest
from moderate.matrix_profile.settings import (
    ImageNotAllowedError,
    MatrixProfileSettings,
)

KUBERNETES_VERSION = "1.33.0"
DIGEST = "sha256:" + "ab" * 32
INPUT_URL = "https://storage.example/platform-api/a.csv?X-Amz-Signature=abc"
UPLOAD_URL = "https://storage.example/out/matrixprofile-1.html?X-Amz-Signature=def"
PIPES_ENV = {"DAGSTER_PIPES_CONTEXT": "eJyrVkpJLElUslKoVioqzYvPTAEylYqUamsBaNsH/g=="}


def _request(**overrides) -> WorkerRequest:
    values = {
        "workflow_job_id": 42,
        "run_id": "3f2b9c1e-aaaa-bbbb-cccc-0123456789ab",
        "analysis_variable": "power",
        "input_url": INPUT_URL,
        "report_upload_url": UPLOAD_URL,
        "timeout_s": 3600,
    }
    values.update(overrides)
    return WorkerRequest(**values)


def _spec(image: str = "registry.local:5000/moderate/mp-worker:main") -> WorkerJobSpec:
    return WorkerJobSpec(
        image=image,
        namespace="analysis",
        active_deadline_s=3600,
        ttl_seconds_after_finished=3600,
        cpu_request="500m",
        cpu_limit="2",
        memory_request="1Gi",
        memory_limit="4Gi",
        scratch_size_limit="1Gi",
        run_as_user=10001,
    )


def _manifest(job: dict) -> dict:
    return client.ApiClient().sanitize_for_serialization(job)


def test_manifest_passes_kubernetes_validate_strict():
    manifest = _manifest(build_job(_request(window="1d", top_k=5), _spec(), PIPES_ENV))
    assert kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_manifest_passes_the_kubernetes_validate_cli(tmp_path: Path):
    path = tmp_path / "job.yaml"
    path.write_text(
        yaml.safe_dump(_manifest(build_job(_request(), _spec(), PIPES_ENV)))
    )
    cli = Path(sys.executable).with_name("kubernetes-validate")
    completed = subprocess.run(
        [str(cli), "--strict", "-k", KUBERNETES_VERSION, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_invalid_manifest_is_rejected_by_the_validator():
    manifest = _manifest(build_job(_request(), _spec(), PIPES_ENV))
    manifest["spec"]["backoffLimit"] = "x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_manifest_is_locked_down():
    manifest = _manifest(build_job(_request(), _spec(), PIPES_ENV))
    spec = manifest["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 3600
    assert spec["ttlSecondsAfterFinished"] == 3600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }
    assert container["command"] == ["python", "-m", "moderate.matrix_profile.worker"]
    assert container["volumeMounts"] == [{"name": "scratch", "mountPath": "/tmp"}]


def test_manifest_carries_no_secret_and_no_url():
    manifest = _manifest(build_job(_request(), _spec(), PIPES_ENV))
    text = json.dumps(manifest)
    for forbidden in (INPUT_URL, UPLOAD_URL, "Signature", "S3_", "API_", "PASSWORD"):
        assert forbidden not in text
    assert "envFrom" not in text
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--analysis-variable=power"]
    plain = {item["name"] for item in container["env"] if "value" in item}
    assert plain == {
        "HOME",
        "TMPDIR",
        "NUMBA_CACHE_DIR",
        "PYTHONUNBUFFERED",
        "DAGSTER_PIPES_CONTEXT",
    }
    references = [
        item["valueFrom"]["secretKeyRef"]
        for item in container["env"]
        if "valueFrom" in item
    ]
    assert references == [
        {"name": "moderate-mp-42-3f2b9c1e", "key": "MODERATE_MP_INPUT_URL"},
        {"name": "moderate-mp-42-3f2b9c1e", "key": "MODERATE_MP_REPORT_UPLOAD_URL"},
    ], "only the Job's own Secret, and only its URLs"


def test_secret_holds_the_urls_and_passes_kubernetes_validate_strict():
    secret = _manifest(build_secret(_request(), "analysis"))
    assert kubernetes_validate.validate(secret, KUBERNETES_VERSION, strict=True)
    assert secret["metadata"]["name"] == "moderate-mp-42-3f2b9c1e"
    assert secret["metadata"]["namespace"] == "analysis"
    assert secret["immutable"] is True
    assert secret["stringData"] == {
        "MODERATE_MP_INPUT_URL": INPUT_URL,
        "MODERATE_MP_REPORT_UPLOAD_URL": UPLOAD_URL,
    }


def test_manifest_labels_allow_sweeping():
    manifest = _manifest(build_job(_request(), _spec(), PIPES_ENV))
    expected = {
        "app.kubernetes.io/name": "moderate-matrix-profile",
        "moderate/workflow-job-id": "42",
        "dagster/run-id": "3f2b9c1e-aaaa-bbbb-cccc-0123456789ab",
    }
    for labels in (
        manifest["metadata"]["labels"],
        manifest["spec"]["template"]["metadata"]["labels"],
    ):
        assert expected.items() <= labels.items()
    assert manifest["metadata"]["name"] == "moderate-mp-42-3f2b9c1e"


def test_job_name_is_dns_safe():
    name = job_name(10**30, "ABC_def-12345678")
    assert len(name) <= 63
    assert name == name.lower()
    assert not name.endswith("-")


def test_worker_request_repr_hides_presigned_urls():
    text = repr(_request())
    assert "Signature" not in text
    assert "power" in text


def test_digest_tag_becomes_a_digest_reference():
    settings = MatrixProfileSettings(image="localhost:5000/mp", tag=DIGEST)
    assert settings.image_reference() == f"localhost:5000/mp@{DIGEST}"
    manifest = _manifest(
        build_job(_request(), _spec(f"localhost:5000/mp@{DIGEST}"), PIPES_ENV)
    )
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"


@pytest.mark.parametrize(
    ("image", "tag", "allowed"),
    [
        ("evil.example/miner", "main", "localhost:5000/mp"),
        ("localhost:5000/mp", "main; rm -rf /", "localhost:5000/mp"),
        ("localhost:5000/mp", "sha256:short", "localhost:5000/mp"),
        ("Localhost:5000/MP", "main", "Localhost:5000/MP"),
    ],
)
def test_images_outside_the_allow_list_are_refused(image, tag, allowed):
    settings = MatrixProfileSettings(image=image, tag=tag, image_allowlist=allowed)
    with pytest.raises(ImageNotAllowedError):
        settings.image_reference()


def test_settings_resolve_image_from_the_environment(monkeypatch):
    monkeypatch.setenv("MATRIX_PROFILE_JOB_IMAGE", "localhost:5000/mp")
    settings = MatrixProfileSettings()
    assert settings.image_reference() == "localhost:5000/mp:main"
    monkeypatch.setenv("MATRIX_PROFILE_JOB_TAG", DIGEST)
    assert settings.image_reference() == f"localhost:5000/mp@{DIGEST}"
    monkeypatch.setenv("MATRIX_PROFILE_IMAGE_ALLOWLIST", "ghcr.io/other, quay.io/x")
    with pytest.raises(ImageNotAllowedError, match="allow-list"):
        settings.image_reference()
    monkeypatch.setenv(
        "MATRIX_PROFILE_IMAGE_ALLOWLIST", "ghcr.io/other,localhost:5000/mp"
    )
    assert settings.image_reference() == f"localhost:5000/mp@{DIGEST}"


def test_settings_without_image_refuse_kubernetes():
    with pytest.raises(ImageNotAllowedError, match="MATRIX_PROFILE_JOB_IMAGE"):
        MatrixProfileSettings().image_reference()


def test_launcher_setting(monkeypatch):
    settings = MatrixProfileSettings()
    assert settings.launcher_kind().value == "subprocess"
    assert settings.launcher_kind("kubernetes").value == "kubernetes"
    monkeypatch.setenv("MATRIX_PROFILE_LAUNCHER", "KUBERNETES")
    assert settings.launcher_kind().value == "kubernetes"
    monkeypatch.setenv("MATRIX_PROFILE_LAUNCHER", "docker")
    with pytest.raises(ValueError, match="MATRIX_PROFILE_LAUNCHER"):
        settings.launcher_kind()
    monkeypatch.setenv("MATRIX_PROFILE_K8S_NAMESPACE", "analysis")
    assert settings.kubernetes_namespace() == "analysis"
