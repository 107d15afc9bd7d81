#!/usr/bin/env python3
"""The workloads of `benches/peers.rs` in JAX (jit, complex128) and PyTorch (autograd, complex128).

One process measures one library at one thread count; `run.sh` runs it for each library, thread
count and malloc setting, and `table.py` assembles the table. Output: one JSON object a line on
stdout (and nothing else on stdout), with the median time of each workload in ns.

    python peers.py --lib jax --threads 1 --malloc default [--check] [--quick]

The thread count is set up by the caller: CPU affinity (`taskset`), and for JAX `XLA_FLAGS`
(`--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1` for one thread), since XLA
reads it when the backend starts; this script sets `torch.set_num_threads`. `--malloc` is only a
label: the caller sets (or not) `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_`.

The data are the very numbers of the Rust bench (SplitMix64 of `(seed << 40) + i + 1`, see
`benches/peers.rs`), so the loss values printed by both can be compared.

Workloads (same sizes and ops as the Rust bench):
  phase_value/n, phase_grad/n   L(u) = sum (|fft2 u|^2 - T)^2, n = 256, 1024
  gp_grad/65536                 the 1-D Gross-Pitaevskii energy
  scalar_grad/100000            50 steps of z <- z*z*conj(z)*0.5 + c on 1e5 points, sum |z|^2

|y|^2 is written `y.real**2 + y.imag**2` in both libraries (no square root; `abs(y)**2` is slower
in both).

Gradient conventions (irrelevant for timing): PyTorch's `u.grad` is 2 dL/d(conj u) = dL/dx + i
dL/dy, the crate's `grad`; JAX's `jax.grad` of a real loss of a complex input returns its complex
conjugate, dL/dx - i dL/dy. The finite-difference check (`--check`) accounts for that.
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import numpy as np

N_SCALAR = 100_000
STEPS = 50
GP_N = 1 << 16
GP_L = 40.0
GP_G = 1.0

# --------------------------------------------------------------------------------------------
# Data: identical to benches/peers.rs


def uniform(seed, n, offset=0):
    """Elements offset..offset+n of stream `seed`, uniform in [0, 1) (SplitMix64)."""
    u64 = np.uint64
    i = np.arange(offset, offset + n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (u64(seed) << u64(40)) + i + u64(1)
        z = z * u64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> u64(30))) * u64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> u64(27))) * u64(0x94D049BB133111EB)
        z = z ^ (z >> u64(31))
    return (z >> u64(11)).astype(np.float64) / float(1 << 53)


def field(seed, n):
    """n complex values in [-1, 1)^2: re from element 2k, im from element 2k+1."""
    u = uniform(seed, 2 * n)
    return (2.0 * u[0::2] - 1.0) + 1j * (2.0 * u[1::2] - 1.0)


def phase(t):
    a = 2.0 * np.pi * t
    return np.cos(a) + 1j * np.sin(a)


def phase_data(n):
    u = field(1, n * n).reshape(n, n)
    v = field(2, n * n).reshape(n, n)
    y = np.fft.fft2(v)
    t = y.real**2 + y.imag**2
    return u, t


def gp_data(n=GP_N):
    dx = GP_L / n
    x = -GP_L / 2.0 + np.arange(n) * dx
    v = x * x / 2.0
    k = 2.0 * np.pi * np.fft.fftfreq(n, dx)
    k2 = k * k / 2.0
    psi = phase(uniform(3, n)) * (np.pi**-0.25 * np.exp(-x * x / 2.0))
    return psi, k2, v, dx


def scalar_data(n=N_SCALAR):
    z0 = phase(uniform(4, n)) * 0.5
    c = phase(uniform(6, n)) * (0.1 * (1.0 + uniform(5, n)) / 2.0)
    return z0, c


# --------------------------------------------------------------------------------------------
# Timing


def measure(fn, warmup_s, min_s, min_runs, max_runs=10_000):
    """Median wall time of `fn()` in ns after warm-up, and minor page faults per call."""
    t0 = time.perf_counter()
    n = 0
    while n < 3 or time.perf_counter() - t0 < warmup_s:
        fn()
        n += 1
    times = []
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - t0 < min_s and len(times) < max_runs):
        s = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - s)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / len(times)
    return statistics.median(times), len(times), faults


# --------------------------------------------------------------------------------------------
# JAX


def jax_workloads():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def abs2(y):
        return y.real**2 + y.imag**2

    def phase_loss(u, t):
        return jnp.sum((abs2(jnp.fft.fft2(u)) - t) ** 2)

    def gp_energy(psi, k2, v, dx):
        n2 = abs2(psi)
        kinetic = jnp.vdot(psi, jnp.fft.ifft(k2 * jnp.fft.fft(psi))).real
        return dx * (kinetic + jnp.sum(v * n2) + GP_G / 2.0 * jnp.sum(n2 * n2))

    def scalar_loss(z0, c, steps=STEPS):
        z = z0
        for _ in range(steps):  # unrolled by tracing: 50 steps in one fused XLA program
            z = z * z * jnp.conj(z) * 0.5 + c
        return jnp.sum(abs2(z))

    phase_value = jax.jit(phase_loss)
    phase_grad = jax.jit(jax.value_and_grad(phase_loss))
    gp_grad = jax.jit(jax.value_and_grad(gp_energy), static_argnums=3)
    scalar_grad = jax.jit(jax.value_and_grad(scalar_loss))

    def put(x):
        return jax.device_put(jnp.asarray(x))

    def run(f, *args):
        # The gradient is conj(2 dL/d(conj u)) (see the module doc); only timed here.
        return lambda: jax.block_until_ready(f(*args))

    work = []
    for n in (256, 1024):
        u, t = (put(a) for a in phase_data(n))
        work.append(("phase_value", n, run(phase_value, u, t), lambda u=u, t=t: phase_value(u, t)))
        work.append(("phase_grad", n, run(phase_grad, u, t), lambda u=u, t=t: phase_grad(u, t)[0]))
    psi, k2, v, dx = gp_data()
    psi, k2, v = put(psi), put(k2), put(v)
    work.append(("gp_grad", GP_N, run(gp_grad, psi, k2, v, dx), lambda: gp_grad(psi, k2, v, dx)[0]))
    z0, c = (put(a) for a in scalar_data())
    work.append(("scalar_grad", N_SCALAR, run(scalar_grad, z0, c), lambda: scalar_grad(z0, c)[0]))

    def grads_for_check():
        # Small sizes; returns [(name, loss_fn(x) -> float, x, grad in the PyTorch convention)].
        out = []
        u, t = phase_data(16)
        _, g = jax.value_and_grad(phase_loss)(jnp.asarray(u), jnp.asarray(t))
        out.append(("phase/16", lambda x: float(phase_loss(jnp.asarray(x), jnp.asarray(t))), u,
                    np.conj(np.asarray(g))))
        psi, k2, v, dx = gp_data(256)
        _, g = jax.value_and_grad(gp_energy)(jnp.asarray(psi), k2, v, dx)
        out.append(("gp/256", lambda x: float(gp_energy(jnp.asarray(x), k2, v, dx)), psi,
                    np.conj(np.asarray(g))))
        # 50 steps contract the gradient to ~1e-100 of the loss, below what finite differences
        # of f64 losses resolve: check the same code over 4 steps.
        z0, c = scalar_data(8)
        loss = lambda x: float(scalar_loss(jnp.asarray(x), jnp.asarray(c), 4))  # noqa: E731
        _, g = jax.value_and_grad(scalar_loss)(jnp.asarray(z0), jnp.asarray(c), 4)
        out.append(("scalar/8, 4 steps", loss, z0, np.conj(np.asarray(g))))
        return out

    from importlib.metadata import version

    versions = {"jax": jax.__version__, "jaxlib": version("jaxlib"),
                "backend": jax.default_backend(), "devices": str(jax.devices())}
    return work, grads_for_check, versions


# --------------------------------------------------------------------------------------------
# PyTorch


def torch_workloads(threads):
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)

    def abs2(y):
        return y.real**2 + y.imag**2

    def phase_loss(u, t):
        return torch.sum((abs2(torch.fft.fft2(u)) - t) ** 2)

    def gp_energy(psi, k2, v, dx):
        n2 = abs2(psi)
        kinetic = torch.vdot(psi, torch.fft.ifft(k2 * torch.fft.fft(psi))).real
        return dx * (kinetic + torch.sum(v * n2) + GP_G / 2.0 * torch.sum(n2 * n2))

    def scalar_loss(z0, c, steps=STEPS):
        z = z0
        for _ in range(steps):
            z = z * z * torch.conj(z) * 0.5 + c
        return torch.sum(abs2(z))

    def value(f, *args):
        def go():
            with torch.inference_mode():
                return f(*args).item()
        return go

    def grad(f, x, *rest):
        # A complex128 leaf with requires_grad; x.grad is 2 dL/d(conj x), as the crate's `grad`.
        leaf = x.detach().clone().requires_grad_(True)

        def go():
            leaf.grad = None
            loss = f(leaf, *rest)
            loss.backward()
            return loss.item(), leaf.grad
        return go

    work = []
    for n in (256, 1024):
        u, t = (torch.from_numpy(a) for a in phase_data(n))
        work.append(("phase_value", n, value(phase_loss, u, t), value(phase_loss, u, t)))
        g = grad(phase_loss, u, t)
        work.append(("phase_grad", n, g, lambda g=g: g()[0]))
    psi, k2, v, dx = gp_data()
    psi, k2, v = (torch.from_numpy(a) for a in (psi, k2, v))
    g = grad(gp_energy, psi, k2, v, dx)
    work.append(("gp_grad", GP_N, g, lambda: g()[0]))
    z0, c = (torch.from_numpy(a) for a in scalar_data())
    gs = grad(scalar_loss, z0, c)
    work.append(("scalar_grad", N_SCALAR, gs, lambda: gs()[0]))

    def grads_for_check():
        out = []
        u, t = phase_data(16)
        tt = torch.from_numpy(t)
        out.append(("phase/16", lambda x: phase_loss(torch.from_numpy(x), tt).item(), u,
                    grad(phase_loss, torch.from_numpy(u), tt)()[1].numpy()))
        psi, k2, v, dx = gp_data(256)
        k2, v = torch.from_numpy(k2), torch.from_numpy(v)
        out.append(("gp/256", lambda x: gp_energy(torch.from_numpy(x), k2, v, dx).item(), psi,
                    grad(gp_energy, torch.from_numpy(psi), k2, v, dx)()[1].numpy()))
        z0, c = scalar_data(8)  # 4 steps: see the JAX check
        c = torch.from_numpy(c)
        out.append(("scalar/8, 4 steps", lambda x: scalar_loss(torch.from_numpy(x), c, 4).item(),
                    z0, grad(scalar_loss, torch.from_numpy(z0), c, 4)()[1].numpy()))
        return out

    versions = {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                "torch_parallel_info": torch.__config__.parallel_info().splitlines()[:4]}
    return work, grads_for_check, versions


# --------------------------------------------------------------------------------------------
# Finite-difference check


def fd_check(name, loss, x, grad, rng):
    """Directional derivative along a random complex direction d, by central differences with a
    Richardson step, against Re <grad, d> (grad = dL/dx + i dL/dy)."""
    d = rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)
    d /= np.linalg.norm(d)
    h = 1e-3 * max(1.0, float(np.linalg.norm(x)))

    def central(h):
        return (loss(x + h * d) - loss(x - h * d)) / (2.0 * h)

    fd = (4.0 * central(h / 2) - central(h)) / 3.0  # one Richardson step: error O(h^4)
    ad = float(np.real(np.vdot(grad, d)))
    err = abs(fd - ad) / max(abs(ad), 1e-300)
    return {"check": name, "fd": fd, "ad": ad, "rel_err": err, "ok": err < 1e-5}


# --------------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lib", choices=["jax", "torch"], required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--malloc", default="default", help="label only")
    p.add_argument("--check", action="store_true", help="finite-difference check at small size")
    p.add_argument("--quick", action="store_true", help="short timings (for trying the script)")
    p.add_argument("--only", default="", help="comma-separated workload names to time")
    a = p.parse_args()

    if a.lib == "jax":
        work, grads_for_check, versions = jax_workloads()
    else:
        work, grads_for_check, versions = torch_workloads(a.threads)
    base = {"lib": a.lib, "threads": a.threads, "malloc": a.malloc}

    def emit(obj):
        print(json.dumps({**base, **obj}), flush=True)

    env = {k: os.environ.get(k) for k in ("XLA_FLAGS", "MALLOC_MMAP_THRESHOLD_",
                                          "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX",
                                          "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GLIBC_TUNABLES")}
    emit({"versions": versions, "env": env, "affinity": sorted(os.sched_getaffinity(0)),
          "python": sys.version.split()[0], "numpy": np.__version__})

    if a.check:
        rng = np.random.default_rng(0)
        for name, loss, x, g in grads_for_check():
            r = fd_check(name, loss, x, g, rng)
            emit(r)
            if not r["ok"]:
                print(f"finite-difference check failed: {r}", file=sys.stderr)
                sys.exit(1)

    only = set(filter(None, a.only.split(",")))
    warmup, min_s, min_runs = (0.2, 0.5, 3) if a.quick else (1.0, 3.0, 10)
    for name, size, fn, loss in work:
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        fn()  # compile (JAX) / first call
        first = time.perf_counter() - t0
        med, runs, faults = measure(fn, warmup, min_s, min_runs)
        value = float(loss())
        emit({"workload": f"{name}/{size}", "median_ns": med, "runs": runs,
              "minflt_per_call": faults, "first_call_s": first, "loss": value})


if __name__ == "__main__":
    main()
