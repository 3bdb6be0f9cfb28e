"""Generated load series with planted anomalies, written as CONTRACT §5 CSVs."""

from pathlib import Path

import numpy as np
import pandas as pd

PERIOD = pd.Timedelta(minutes=15)
POINTS_PER_DAY = 96
START = pd.Timestamp("2024-01-01 00:00:00")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
NOISE = 0.25
SPIKE_POINTS = 12
SPIKE_HEIGHT = 9.0


def daily_load(days: int, seed: int = 7, period: pd.Timedelta = PERIOD) -> pd.DataFrame:
    """A noisy, strongly daily load profile with an outdoor temperature column."""
    points_per_day = int(pd.Timedelta(days=1) / period)
    points = days * points_per_day
    phase = 2 * np.pi * np.arange(points) / points_per_day
    rng = np.random.default_rng(seed)
    power = (
        20 + 6 * np.sin(phase) + 2.5 * np.sin(2 * phase) + rng.normal(0, NOISE, points)
    )
    temp = 8 + 4 * np.sin(phase - 1.0) + rng.normal(0, 0.5, points)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(START, periods=points, freq=period),
            "power": power,
            "temp": temp,
            "other_building": rng.normal(50, 5, points),
        }
    )


def plant_spike(frame: pd.DataFrame, day: int, hour: int) -> pd.Timestamp:
    """Adds a three-hour bump on ``day`` at ``hour``; returns its start."""
    start = day * POINTS_PER_DAY + hour * 4
    frame.loc[start : start + SPIKE_POINTS - 1, "power"] += SPIKE_HEIGHT
    return frame.loc[start, "timestamp"]


def plant_flat_day(frame: pd.DataFrame, day: int) -> pd.Timestamp:
    """Replaces ``day`` with a stuck-sensor plateau; returns its start."""
    start = day * POINTS_PER_DAY
    rows = slice(start, start + POINTS_PER_DAY - 1)
    level = float(frame.loc[start, "power"])
    frame.loc[rows, "power"] = level + np.linspace(0, 0.5, POINTS_PER_DAY)
    return frame.loc[start, "timestamp"]


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Writes ``frame`` with ``YYYY-MM-DD HH:MM:SS`` timestamps."""
    out = frame.copy()
    out["timestamp"] = pd.to_datetime(out["timestamp"]).dt.strftime(TIMESTAMP_FORMAT)
    out.to_csv(path, index=False)
    return path


def planted_csv(path: Path, days: int = 30, anomaly_day: int = 17) -> pd.Timestamp:
    """Writes a daily series with one spike; returns the spike's start."""
    frame = daily_load(days)
    spike = plant_spike(frame, anomaly_day, hour=10)
    write_csv(frame, path)
    return spike
