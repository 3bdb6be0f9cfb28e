"""A kmock Kubernetes API emulator on loopback, plus a scripted "controller".

kmock stores objects but runs no controllers: a Job never gets Pods or a
status by itself. :class:`FakeController` plays the Job controller and the
kubelet from a background thread: it waits for the Job the code under test
creates, then applies a scenario (create the Pod, set statuses, serve a log).
"""

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import kmock
from kubernetes import client

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 10.0
WAIT_STEP_S = 0.02
CONTROLLER_AGENT = "fake-controller"
HTTP_FORBIDDEN = 403
JOB_LIFECYCLE_CALLS = frozenset(
    {
        ("POST", "jobs", None),
        ("GET", "jobs", None),
        ("GET", "jobs", "status"),
        ("DELETE", "jobs", None),
        ("GET", "pods", None),
        ("GET", "pods", "log"),
    }
)
"""(method, resource, subresource) the shared Job lifecycle may call (its RBAC)."""
DECLARED_RESOURCES = {
    "v1/pods": "Pod",
    "batch/v1/jobs": "Job",
    "v1/events": "Event",
    "v1/secrets": "Secret",
}


class KmockCluster:
    """A ``kmock.KubernetesEmulator`` served over HTTP by an asyncio thread.

    Like a real API server (and unlike bare kmock) it gives every created
    object a ``metadata.uid``, the target of owner references.
    """

    def __init__(self) -> None:
        self.emulator = kmock.KubernetesEmulator()
        for resource, kind in DECLARED_RESOURCES.items():
            self.emulator.resources[resource] = {"kind": kind, "namespaced": True}
        self.refused: set[str] = set()
        self.emulator[kmock.method.POST] << self._created
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: kmock.Server | None = None
        self.url = ""

    def start(self) -> "KmockCluster":
        self._thread.start()
        self.url = self._call(self._enter()).rstrip("/")
        return self

    def stop(self) -> None:
        self._call(self._exit())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT_S)
        self._loop.close()

    def api_client(self) -> client.ApiClient:
        configuration = client.Configuration()
        configuration.host = self.url
        configuration.verify_ssl = False
        return client.ApiClient(configuration)

    def forbid_creating(self, plural: str) -> None:
        """Answers 403 to creations of ``plural`` (kmock still stores the object)."""
        self.refused.add(plural)

    def _created(self, request: Any) -> Any:
        if request.resource.plural in self.refused:
            raise kmock.KubernetesError(status=HTTP_FORBIDDEN, reason="Forbidden")
        metadata = request.data.get("metadata", {})
        key = (request.resource, request.namespace or metadata.get("namespace"))
        stored = self.emulator.objects[(*key, metadata["name"])]
        stored["metadata"] = {**metadata, "uid": str(uuid.uuid4())}
        return stored.raw

    def serve_log(self, namespace: str, pod: str, text: str) -> None:
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        self.emulator[f"get {path}"] << text.encode("utf-8")

    def requests(self, method: str) -> list[Any]:
        return list(self.emulator[method.lower()])

    def client_calls(self) -> set[tuple[str, str, str | None]]:
        """(method, resource plural, subresource) of every non-controller call."""
        return {
            (str(request.method.value), request.resource.plural, request.subresource)
            for request in list(self.emulator)
            if request.resource is not None
            and request.headers.get("User-Agent") != CONTROLLER_AGENT
        }

    async def _enter(self) -> str:
        await self.emulator.__aenter__()
        self._server = kmock.Server(self.emulator, host=LOOPBACK)
        await self._server.__aenter__()
        return str(self._server.url)

    async def _exit(self) -> None:
        if self._server is not None:
            await self._server.__aexit__(None, None, None)
        await self.emulator.__aexit__(None, None, None)

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(
            START_TIMEOUT_S
        )


def pod_manifest(
    namespace: str,
    job_name: str,
    pod_name: str,
    container_state: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    phase: str = "Pending",
    container: str = "worker",
) -> dict[str, Any]:
    statuses = []
    if container_state is not None:
        statuses.append(
            {
                "name": container,
                "ready": False,
                "restartCount": 0,
                "image": "img",
                "imageID": "",
                "state": container_state,
            }
        )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "namespace": namespace,
            "labels": {"job-name": job_name},
        },
        "spec": {"containers": [{"name": container, "image": "img"}]},
        "status": {
            "phase": phase,
            "conditions": conditions or [],
            "containerStatuses": statuses,
        },
    }


Scenario = Callable[["FakeController", str], None]


@dataclass
class FakeController:
    """Waits for the first Job in ``namespace`` and runs ``scenario`` on it."""

    cluster: KmockCluster
    namespace: str
    scenario: Scenario
    timeout_s: float = 20.0
    job_seen: str | None = None
    errors: list[BaseException] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        api = self.cluster.api_client()
        api.user_agent = CONTROLLER_AGENT
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)

    def start(self) -> "FakeController":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def join(self) -> None:
        assert self._thread is not None
        self._thread.join(self.timeout_s)
        if self.errors:
            raise self.errors[0]

    def create_pod(self, job_name: str, pod_name: str, **status: Any) -> None:
        self.core.create_namespaced_pod(
            self.namespace, pod_manifest(self.namespace, job_name, pod_name, **status)
        )

    def patch_pod_status(self, pod_name: str, status: dict[str, Any]) -> None:
        self.core.patch_namespaced_pod_status(
            pod_name, self.namespace, {"status": status}
        )

    def set_job_status(self, job_name: str, status: dict[str, Any]) -> None:
        self.batch.patch_namespaced_job_status(
            job_name, self.namespace, {"status": status}
        )

    def wait(self, predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("scenario condition never held")
            time.sleep(WAIT_STEP_S)

    def _run(self) -> None:
        try:
            self.wait(self._job_exists)
            assert self.job_seen is not None
            self.scenario(self, self.job_seen)
        except BaseException as error:  # noqa: BLE001 - reported by join()
            self.errors.append(error)

    def _job_exists(self) -> bool:
        jobs = self.batch.list_namespaced_job(self.namespace).items
        if jobs:
            self.job_seen = jobs[0].metadata.name
            return True
        return False
