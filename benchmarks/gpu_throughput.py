"""Easter2 inference throughput on a GPU (JAX backend, bfloat16), lines/s by batch size.

Run on a GPU machine: ``KERAS_BACKEND=jax python benchmarks/gpu_throughput.py WEIGHTS``.
Prints one JSON line per batch size; the committed results are in
benchmarks/gpu_throughput.md.
"""

import json
import sys
import time

import keras
import numpy as np

sys.path.insert(0, ".")
from htr.model import build_easter2  # noqa: E402


def main(weights: str) -> None:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = build_easter2()
    model.load_weights(weights)
    import jax

    print(json.dumps({"device": str(jax.devices()[0]), "backend": keras.backend.backend()}))
    for batch in (1, 64, 256, 1024):
        x = np.random.rand(batch, 2000, 80).astype(np.float32)
        xd = jax.device_put(x)
        model.predict_on_batch(xd)  # compile
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 3.0:
            np.asarray(model.predict_on_batch(xd))
            n += 1
        dt = (time.perf_counter() - t0) / n
        print(json.dumps({"batch": batch, "seconds_per_batch": round(dt, 5), "lines_per_s": round(batch / dt, 1)}))


if __name__ == "__main__":
    main(sys.argv[1])
