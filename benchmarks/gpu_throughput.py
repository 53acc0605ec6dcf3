"""Easter2 inference throughput on a GPU (JAX backend, bfloat16), lines/s by batch size.

Run on a GPU machine: ``KERAS_BACKEND=jax python benchmarks/gpu_throughput.py WEIGHTS``.
Prints one JSON line per measurement; the committed results are in
benchmarks/gpu_throughput.md.

Two paths over the same 2000x80 layout:

* ``predict``: Keras' ``predict_on_batch`` on a float32 batch already on the
  device, softmax probabilities copied back (what a plain Keras user gets).
* ``jit``: one ``jax.jit`` of the model's ``stateless_call`` that takes the
  prepared lines as **uint8** (what ``htr.preprocess`` produces, 4x less to
  move than float32), scales them on the device and returns the greedy path
  (argmax per time step, uint8) instead of 500x80 probabilities: all greedy
  decoding needs. Timed twice: with the batch already on the device, and with
  the host-to-device copy of each batch and the copy back included.
"""

import json
import os
import sys
import time

import keras
import numpy as np

sys.path.insert(0, ".")
from htr.model import build_easter2  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", 2.5))  # timing window per measurement
BATCHES = [int(b) for b in os.environ.get("BENCH_BATCHES", "1,64,256,1024,2048,4096").split(",")]


def _rate(fn, batch: int) -> dict:
    fn()  # compile / warm up
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < SECONDS:
        fn()
        n += 1
    dt = (time.perf_counter() - t0) / n
    return {"batch": batch, "seconds_per_batch": round(dt, 5), "lines_per_s": round(batch / dt, 1)}


def main(weights: str) -> None:
    import jax
    import jax.numpy as jnp

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = build_easter2()
    model.load_weights(weights)
    dev = jax.devices()[0]
    print(json.dumps({"device": str(dev), "kind": getattr(dev, "device_kind", "?"),
                      "backend": keras.backend.backend(), "jax": jax.__version__}), flush=True)
    rng = np.random.default_rng(0)

    # own copies: Keras' predict may donate (delete) the variables' buffers
    tv = [jnp.array(v.value, copy=True) for v in model.trainable_variables]
    ntv = [jnp.array(v.value, copy=True) for v in model.non_trainable_variables]

    @jax.jit
    def greedy(tv, ntv, x_u8):
        x = x_u8.astype(jnp.bfloat16) * jnp.bfloat16(1 / 255)
        probs, _ = model.stateless_call(tv, ntv, x, training=False)
        return jnp.argmax(probs, axis=-1).astype(jnp.uint8)

    # the same lines through both paths must give the same greedy path
    x8 = (rng.random((8, 2000, 80)) < 0.1).astype(np.uint8) * 255
    p_ref = np.asarray(model.predict_on_batch(x8.astype(np.float32) / 255)).argmax(-1)
    p_jit = np.asarray(greedy(tv, ntv, jax.device_put(x8)))
    print(json.dumps({"check": "jit argmax == predict argmax",
                      "agreement": round(float((p_ref == p_jit).mean()), 5)}), flush=True)

    for batch in [b for b in BATCHES if b in (1, 256, 1024)] or BATCHES[:1]:
        xd = jax.device_put(rng.random((batch, 2000, 80), dtype=np.float32))
        r = _rate(lambda: np.asarray(model.predict_on_batch(xd)), batch)
        print(json.dumps({"path": "predict float32, probs back", **r}), flush=True)

    for batch in BATCHES:
        xh = (rng.random((batch, 2000, 80)) < 0.1).astype(np.uint8) * 255
        xd = jax.device_put(xh)
        r = _rate(lambda: greedy(tv, ntv, xd).block_until_ready(), batch)
        print(json.dumps({"path": "jit uint8 in, argmax back, on device", **r}), flush=True)
        r = _rate(lambda: np.asarray(greedy(tv, ntv, jax.device_put(xh))), batch)
        print(json.dumps({"path": "jit uint8 in, argmax back, host copies included", **r}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
