"""Regenerate sample_data/weather.csv and weather.parquet (fixed seed: same bytes every time)."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
rng = np.random.default_rng(2024)
stations = ["Oslo Blindern", "Bergen, Florida", "Tromsø", "Kjeller"]
rows = []
for day in range(60):
    for station in stations:
        temp = round(float(rng.normal(4 + day / 10, 5)), 1)
        humidity = int(rng.integers(35, 100))
        pressure = round(float(rng.normal(1013.25, 8)), 2)
        wind = round(float(abs(rng.normal(12, 7))), 1)
        rain = round(float(rng.exponential(2.0)), 1) if rng.random() < 0.4 else 0.0
        rows.append({
            "station": station,
            "date": f"2024-03-{day % 30 + 1:02d}" if day < 30 else f"2024-04-{day - 29:02d}",
            "temp_c": None if rng.random() < 0.05 else temp,
            "humidity_pct": None if rng.random() < 0.03 else humidity,
            "pressure_hpa": pressure,
            "wind_kmh": wind,
            "rain_mm": None if rng.random() < 0.05 else rain,
            "sensor_version": 3,
        })

table = pa.table({
    "station": pa.array([r["station"] for r in rows], pa.string()),
    "date": pa.array([r["date"] for r in rows], pa.string()),
    "temp_c": pa.array([r["temp_c"] for r in rows], pa.float64()),
    "humidity_pct": pa.array([r["humidity_pct"] for r in rows], pa.int64()),
    "pressure_hpa": pa.array([r["pressure_hpa"] for r in rows], pa.float64()),
    "wind_kmh": pa.array([r["wind_kmh"] for r in rows], pa.float64()),
    "rain_mm": pa.array([r["rain_mm"] for r in rows], pa.float64()),
    "sensor_version": pa.array([r["sensor_version"] for r in rows], pa.int32()),
})


def text(value):
    if value is None:
        return "NA" if rng.random() < 0.5 else ""
    if isinstance(value, str):
        return f'"{value}"' if "," in value else value
    return repr(value)


with open(HERE / "weather.csv", "w", newline="") as out:
    out.write(",".join(table.column_names) + "\n")
    for r in rows:
        out.write(",".join(text(r[name]) for name in table.column_names) + "\n")
pq.write_table(table, HERE / "weather.parquet", compression="zstd")
