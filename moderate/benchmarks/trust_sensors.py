"""Tick time and peak memory of the trust sensors on large doubles.

Serves 10,000 Keycloak users and 10,000 uploaded objects without proof from the
HTTP doubles (in a child process, so their memory is not counted) and evaluates
the two sensors against a fresh PostgreSQL state database:

* first tick on an empty state store (the per-tick run cap is hit early);
* a full pass when every item is already known (worst case: every page read);
* the object sensor when every object waits out a backoff.

Run from ``moderate/``: ``python -m benchmarks.trust_sensors [--users N]
[--objects N]``. Needs the local PostgreSQL of the test suite.
"""

import argparse
import multiprocessing
import resource
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import Any

from dagster import (
    DagsterInstance,
    SensorDefinition,
    SensorResult,
    SkipReason,
    build_sensor_context,
    instance_for_test,
)

from moderate.resources.keycloak import KeycloakResource
from moderate.resources.platform_api import PlatformApiResource
from moderate.state import ItemStatus, StateStoreResource, utc_now
from moderate.trust.sensors import (
    build_keycloak_user_sensor,
    build_platform_api_asset_object_sensor,
)
from moderate.trust.settings import (
    DEFAULT_TRUST_SETTINGS,
    OBJECT_PROOF_NAMESPACE,
    USER_DID_NAMESPACE,
)
from moderate_tests.doubles import (
    API_ADMIN_PASSWORD,
    API_ADMIN_USERNAME,
    KEYCLOAK_ADMIN_PASSWORD,
    KEYCLOAK_ADMIN_USERNAME,
    KEYCLOAK_MAIN_REALM,
    KeycloakDouble,
    PlatformApiDouble,
)
from moderate_tests.support.postgres import postgres_resource, temporary_database
from moderate_tests.support.secrets import resource_with_secrets

DEFAULT_COUNT = 10_000
MIB = 1024 * 1024


def serve_doubles(users: int, objects: int, connection: Connection) -> None:
    """Child process: seeds and serves both doubles until told to stop."""
    keycloak = KeycloakDouble(
        admin_username=KEYCLOAK_ADMIN_USERNAME,
        admin_password=KEYCLOAK_ADMIN_PASSWORD,
        main_realm=KEYCLOAK_MAIN_REALM,
    )
    keycloak.add_users(users, prefix="user")
    api = PlatformApiDouble()
    api.add_user(API_ADMIN_USERNAME, API_ADMIN_PASSWORD, admin=True)
    asset = api.add_asset("datasets", access_level="public")
    ids = api.add_objects(asset, objects)
    with keycloak, api:
        connection.send((keycloak.url, api.url, ids))
        connection.recv()


def timed_tick(
    sensor: SensorDefinition,
    resources: dict[str, Any],
    cursor: str | None,
    instance: DagsterInstance,
) -> tuple[float, float, int, str | None]:
    """Seconds, peak traced MiB, run requests and cursor of one tick."""
    tracemalloc.reset_peak()
    started = time.perf_counter()
    with build_sensor_context(
        instance=instance, cursor=cursor, resources=resources, sensor_name=sensor.name
    ) as context:
        result = sensor(context)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / MIB
    if isinstance(result, SkipReason):
        raise RuntimeError(f"sensor skipped: {result.skip_message}")
    assert isinstance(result, SensorResult)
    return elapsed, peak, len(result.run_requests or []), result.cursor


def report(label: str, figures: tuple[float, float, int, str | None]) -> None:
    """Prints one line of figures."""
    elapsed, peak, runs, _ = figures
    print(f"{label:<58} {elapsed:8.2f} s {peak:9.1f} MiB {runs:6d} runs")


def drain_cursor(
    tick: Callable[[str | None], tuple[float, float, int, str | None]],
    label: str,
) -> None:
    """Ticks until a pass completes, printing each tick."""
    cursor: str | None = None
    for number in range(1, 4):
        figures = tick(cursor)
        report(f"{label}, tick {number}", figures)
        cursor = figures[3]
        if cursor is None or '"offset": null' in cursor or '"after_id": 0' in cursor:
            return


def main() -> None:
    """Runs the benchmark and prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--objects", type=int, default=DEFAULT_COUNT)
    arguments = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=serve_doubles, args=(arguments.users, arguments.objects, child)
    )
    server.start()
    keycloak_url, api_url, object_ids = parent.recv()
    settings = DEFAULT_TRUST_SETTINGS
    try:
        with temporary_database() as database, instance_for_test() as instance:
            postgres = postgres_resource()
            resources: dict[str, Any] = {
                "keycloak": resource_with_secrets(
                    KeycloakResource,
                    {"admin_password": KEYCLOAK_ADMIN_PASSWORD},
                    server_url=keycloak_url,
                    admin_username=KEYCLOAK_ADMIN_USERNAME,
                    main_realm_name=KEYCLOAK_MAIN_REALM,
                ),
                "platform_api": resource_with_secrets(
                    PlatformApiResource,
                    {"password": API_ADMIN_PASSWORD},
                    base_url=api_url,
                    username=API_ADMIN_USERNAME,
                ),
                "state_store": StateStoreResource(postgres=postgres, database=database),
            }
            store = StateStoreResource(postgres=postgres, database=database).store()
            users = build_keycloak_user_sensor(settings)
            objects = build_platform_api_asset_object_sensor(settings)
            print(
                f"{arguments.users} Keycloak users, {arguments.objects} objects "
                f"without proof; caps {settings.max_did_runs_per_tick} DID / "
                f"{settings.max_proof_runs_per_tick} proof runs per tick, pages of "
                f"{settings.user_page_size} / {settings.object_page_size}"
            )
            tracemalloc.start()
            report(
                "user sensor, empty state", timed_tick(users, resources, None, instance)
            )
            report(
                "object sensor, empty state",
                timed_tick(objects, resources, None, instance),
            )

            usernames = [
                f"user{n:0{len(str(arguments.users - 1))}d}"
                for n in range(arguments.users)
            ]
            store.upsert_many(
                USER_DID_NAMESPACE, dict.fromkeys(usernames), status=ItemStatus.DONE
            )
            drain_cursor(
                lambda cursor: timed_tick(users, resources, cursor, instance),
                "user sensor, full pass, every user done",
            )
            store.upsert_many(
                OBJECT_PROOF_NAMESPACE,
                {str(object_id): None for object_id in object_ids},
                status=ItemStatus.FAILED,
                last_error="transient: benchmark",
                next_attempt_at=utc_now() + timedelta(hours=1),
            )
            drain_cursor(
                lambda cursor: timed_tick(objects, resources, cursor, instance),
                "object sensor, full pass, every object backing off",
            )
            tracemalloc.stop()
            postgres.dispose()
    finally:
        parent.send("stop")
        server.join()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the sensor process: {peak_rss:.0f} MiB")


if __name__ == "__main__":
    main()
