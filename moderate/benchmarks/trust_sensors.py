"""Tick cost of the trust sensors and the batched design at 10,000 and 100,000 items.

The HTTP doubles serve N Keycloak users and N uploaded objects without proof from
one server process per size (so their memory and CPU are not counted). Every
measurement runs in a fresh Python process (``subprocess``, not ``fork``, so no
parent memory is inherited) against a fresh PostgreSQL state database, and reports
the CPU and wall seconds of the ticks alone (setup is untimed, no tracer is on)
and that process's own peak RSS. Scenarios alternate within each repetition; the
summary gives the min and median over the repetitions.

Scenarios, for each size:

* ``users-first`` / ``objects-first``: one tick on an empty state store with the
  default settings (the run room is hit early);
* ``users-known-tick``: one reconciliation tick when every user is already done
  (the steady-state worst case: the tick reads its full page allowance);
* ``users-cover``: ticks until every user is claimed, with room for 50 runs per
  tick and none executed; reports runs requested, ticks, and checks every user is
  in exactly one batch.

Run from ``moderate/``: ``python -m benchmarks.trust_sensors [--sizes 10000 100000]
[--repetitions 3]``. Needs the local PostgreSQL of the test suite.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

DEFAULT_SIZES = (10_000, 100_000)
DEFAULT_REPETITIONS = 3
SCENARIOS = ("users-first", "objects-first", "users-known-tick", "users-cover")
COVER_RUNS_PER_TICK = 50
MAX_TICKS = 10_000
KIB_PER_MIB = 1024
CHILD_TIMEOUT_S = 1800


def serve_doubles(size: int, connection: Connection) -> None:
    """Server process: seeds and serves both doubles until told to stop."""
    from moderate_tests.doubles import (
        API_ADMIN_PASSWORD,
        API_ADMIN_USERNAME,
        KEYCLOAK_ADMIN_PASSWORD,
        KEYCLOAK_ADMIN_USERNAME,
        KEYCLOAK_MAIN_REALM,
        KeycloakDouble,
        PlatformApiDouble,
    )

    keycloak = KeycloakDouble(
        admin_username=KEYCLOAK_ADMIN_USERNAME,
        admin_password=KEYCLOAK_ADMIN_PASSWORD,
        main_realm=KEYCLOAK_MAIN_REALM,
    )
    keycloak.add_users(size, prefix="user")
    api = PlatformApiDouble()
    api.add_user(API_ADMIN_USERNAME, API_ADMIN_PASSWORD, admin=True)
    asset = api.add_asset("datasets", access_level="public")
    api.add_objects(asset, size)
    with keycloak, api:
        connection.send((keycloak.url, api.url))
        connection.recv()


def measure(
    scenario: str, size: int, keycloak_url: str, api_url: str
) -> dict[str, Any]:
    """Child process: runs one scenario and returns its figures."""
    from dagster import (
        SensorResult,
        SkipReason,
        build_sensor_context,
        instance_for_test,
    )

    from moderate.resources.keycloak import KeycloakResource
    from moderate.resources.platform_api import PlatformApiResource
    from moderate.state import ItemStatus, StateStoreResource
    from moderate.trust.sensors import (
        build_keycloak_user_sensor,
        build_platform_api_asset_object_sensor,
    )
    from moderate.trust.settings import DEFAULT_TRUST_SETTINGS, USER_DID_NAMESPACE
    from moderate_tests.doubles import (
        API_ADMIN_PASSWORD,
        API_ADMIN_USERNAME,
        KEYCLOAK_ADMIN_PASSWORD,
        KEYCLOAK_ADMIN_USERNAME,
        KEYCLOAK_MAIN_REALM,
    )
    from moderate_tests.support.postgres import postgres_resource, temporary_database
    from moderate_tests.support.secrets import resource_with_secrets

    settings = DEFAULT_TRUST_SETTINGS
    if scenario == "users-cover":
        settings = settings.model_copy(
            update={
                "max_runs_per_tick": COVER_RUNS_PER_TICK,
                "max_runs_in_flight": COVER_RUNS_PER_TICK,
            }
        )
    keycloak = resource_with_secrets(
        KeycloakResource,
        {"admin_password": KEYCLOAK_ADMIN_PASSWORD},
        server_url=keycloak_url,
        admin_username=KEYCLOAK_ADMIN_USERNAME,
        main_realm_name=KEYCLOAK_MAIN_REALM,
    )
    platform_api = resource_with_secrets(
        PlatformApiResource,
        {"password": API_ADMIN_PASSWORD},
        base_url=api_url,
        username=API_ADMIN_USERNAME,
    )
    with temporary_database() as database, instance_for_test() as instance:
        postgres = postgres_resource()
        state_store = StateStoreResource(postgres=postgres, database=database)
        resources = {
            "keycloak": keycloak,
            "platform_api": platform_api,
            "state_store": state_store,
        }
        store = StateStoreResource(postgres=postgres, database=database).store()
        if scenario.startswith("objects"):
            sensor = build_platform_api_asset_object_sensor(settings)
        else:
            sensor = build_keycloak_user_sensor(settings)
        if scenario == "users-known-tick":
            width = len(str(size - 1))
            names = [f"user{number:0{width}d}" for number in range(size)]
            store.upsert_many(
                USER_DID_NAMESPACE, dict.fromkeys(names), status=ItemStatus.DONE
            )
        ticks = 0
        runs = 0
        covered: Counter[str] = Counter()
        cursor: str | None = None
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        while ticks < MAX_TICKS:
            with build_sensor_context(
                instance=instance,
                cursor=cursor,
                resources=resources,
                sensor_name=sensor.name,
            ) as context:
                result = sensor(context)
            ticks += 1
            if isinstance(result, SkipReason):
                raise RuntimeError(f"sensor skipped: {result.skip_message}")
            assert isinstance(result, SensorResult)
            requests = result.run_requests or []
            runs += len(requests)
            for request in requests:
                config = next(iter(request.run_config["ops"].values()))["config"]
                covered.update(item["key"] for item in config["items"])
            cursor = result.cursor
            if scenario != "users-cover" or not requests:
                break
        cpu = time.process_time() - cpu_started
        wall = time.perf_counter() - wall_started
        postgres.dispose()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "peak_rss_mib": peak_mib,
        "ticks": ticks,
        "runs": runs,
        "items": sum(covered.values()),
        "distinct_items": len(covered),
        "max_per_item": max(covered.values(), default=0),
    }


def run_child(
    scenario: str, size: int, keycloak_url: str, api_url: str
) -> dict[str, Any]:
    """Runs :func:`measure` in a fresh interpreter and returns its figures."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.trust_sensors",
        "--child",
        scenario,
        str(size),
        keycloak_url,
        api_url,
    ]
    completed = subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{scenario} at {size} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    """Runs the benchmark and prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--repetitions", type=int, default=DEFAULT_REPETITIONS)
    parser.add_argument(
        "--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS)
    )
    parser.add_argument("--child", nargs=4, metavar=("SCENARIO", "SIZE", "KC", "API"))
    arguments = parser.parse_args()
    if arguments.child:
        scenario, size, keycloak_url, api_url = arguments.child
        print(json.dumps(measure(scenario, int(size), keycloak_url, api_url)))
        return

    from moderate.trust.settings import DEFAULT_TRUST_SETTINGS as SETTINGS

    print(
        f"defaults: batches of {SETTINGS.batch_size}, {SETTINGS.max_runs_per_tick} "
        f"runs per tick, {SETTINGS.max_runs_in_flight} in flight per flow; "
        f"users-cover: {COVER_RUNS_PER_TICK} runs per tick; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    context = multiprocessing.get_context("spawn")
    servers = []
    urls: dict[int, tuple[str, str]] = {}
    try:
        for size in arguments.sizes:
            parent, child = context.Pipe()
            server = context.Process(target=serve_doubles, args=(size, child))
            server.start()
            urls[size] = parent.recv()
            servers.append((server, parent))
        figures: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for repetition in range(1, arguments.repetitions + 1):
            for size in arguments.sizes:
                for scenario in arguments.scenarios:
                    figure = run_child(scenario, size, *urls[size])
                    figures.setdefault((size, scenario), []).append(figure)
                    print(f"rep {repetition} {size} {scenario}: {figure}", flush=True)
    finally:
        for server, parent in servers:
            parent.send("stop")
            server.join()
    print(
        f"{'size':>7} {'scenario':<17} {'cpu min/med s':>14} {'wall min/med s':>15} "
        f"{'peak RSS MiB':>12} {'ticks':>5} {'runs':>5} {'items':>7} {'max/item':>8}"
    )
    for (size, scenario), reps in figures.items():
        cpu = [rep["cpu_s"] for rep in reps]
        wall = [rep["wall_s"] for rep in reps]
        last = reps[-1]
        print(
            f"{size:>7} {scenario:<17} "
            f"{min(cpu):6.2f}/{statistics.median(cpu):6.2f} "
            f"{min(wall):7.2f}/{statistics.median(wall):6.2f} "
            f"{max(rep['peak_rss_mib'] for rep in reps):12.0f} {last['ticks']:>5} "
            f"{last['runs']:>5} {last['distinct_items']:>7} {last['max_per_item']:>8}"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
