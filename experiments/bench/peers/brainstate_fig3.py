"""brainstate + brainevent driver for the bench harness (BrainPy's current stack), one JSON line.

Usage: python brainstate_fig3.py [fig3 | scaled N K] [--steps T] [--repeats R]
       [--method euler|izhikevich] [--conn dense|csr] [--backend numba|jax_raw] [--seed S]

With no workload argument it runs ``fig3``, as ``brainpy_fig3.py`` does. The model is izhijax's
``izhikevich2003`` / ``scaled_izhikevich2003`` (variant ``brian2``), written the way the brainstate
0.5 tutorials write a network: a ``brainstate.nn.Dynamics`` neuron population with
``HiddenState`` variables, ``brainstate.environ.set(dt=1.0)``, a ``brainstate.nn.Module`` network
whose ``update`` is one step, ``brainstate.random.randn`` noise, and the steps run by
``brainstate.transform.for_loop`` inside ``brainstate.transform.jit``. float32 throughout.

* Neurons: the 2003 parameters (``re, ri ~ U(0, 1)``), ``v0 = -65``, ``u0 = b v0``; one step of
  dt = 1 ms is forward Euler with ``v`` and ``u`` from the old values (``--method euler``, what
  izhijax's benchmark, Brian2 and the BrainPy peer run) or net.m's two half steps of ``v``, then
  ``u`` from the new ``v`` (``--method izhikevich``, izhijax ``variant="netm"``); spike at
  ``v >= 30``, then ``v = c, u += d``.
* Input of step t: the recurrent pulse of the spikes of step t - 1 plus ``amp * randn`` (amp 5 for
  excitatory, 2 for inhibitory neurons), drawn every step.
* Fig. 3 (``--conn dense``, the default): the dense all-to-all ``W[pre, post]`` (0.5 U from
  excitatory, -U from inhibitory neurons, self-connections included) in
  ``brainstate.nn.EventLinear``, whose product is brainevent's event-driven dense
  vector-matrix kernel (``brainevent.EventArray(spikes) @ W``: the rows of the neurons that
  fired are summed). ``--conn csr`` stores the same matrix as a ``brainevent.CSR`` instead.
* Scaled: each ordered pair (pre, post) connected with probability K / N (Brian2's
  ``connect(p=K/N)``, izhijax's ``connection="probability"``; self-connections allowed), weights
  0.5 U 1000 / K from excitatory and -U 1000 / K from inhibitory neurons, in a ``brainevent.CSR``
  of shape (N, N) (rows = presynaptic neurons) multiplied by ``brainevent.BinaryArray(spikes)``:
  the event-driven sparse kernel (only the rows of the neurons that fired are read).
* Kernels: brainevent's default CPU backend, ``numba`` (event-driven loops compiled by numba and
  called from XLA through a Python ctypes FFI callback); ``--backend jax_raw`` switches both
  products to brainevent's pure-JAX reference kernels (not event-driven), for comparison.

Each neuron's spikes are counted inside the loop (no raster is kept, as izhijax's benchmark runs
with ``record_spikes=False``). Times: ``setup_s`` is building the network (weights, CSR, states);
``first_call_s`` the first call of the jitted T-step run (tracing + XLA compilation + one run);
``run_s`` the median of ``--repeats`` later runs from a reset state (new noise each run);
``compile_s = build_s = first_call_s - run_s``. Rates are those of the first run.
"""
import argparse
import importlib.metadata
import json
import resource
import statistics
import time

import numpy as np


def fig3_arrays(rng, n_exc=800, n_inh=200):
    """Neuron parameters and the dense W[pre, post] of the Fig. 3 network (float32, NumPy)."""
    n = n_exc + n_inh
    re, ri = rng.uniform(size=n_exc), rng.uniform(size=n_inh)
    w_post_pre = np.hstack([0.5 * rng.uniform(size=(n, n_exc)), -rng.uniform(size=(n, n_inh))])
    return neuron_params(re, ri), np.ascontiguousarray(w_post_pre.T, dtype=np.float32)


def neuron_params(re, ri):
    """(a, b, c, d, noise amplitude) of the 2003 network as float32 arrays."""
    ne, ni = re.size, ri.size
    f = lambda x: np.asarray(x, np.float32)
    return dict(a=f(np.r_[np.full(ne, 0.02), 0.02 + 0.08 * ri]),
                b=f(np.r_[np.full(ne, 0.2), 0.25 - 0.05 * ri]),
                c=f(np.r_[-65.0 + 15.0 * re**2, np.full(ni, -65.0)]),
                d=f(np.r_[8.0 - 6.0 * re**2, np.full(ni, 2.0)]),
                amp=f(np.r_[np.full(ne, 5.0), np.full(ni, 2.0)]))


def bernoulli_csr(rng, n, p, rows_per_chunk=4096):
    """(indices, indptr) of an (n, n) matrix with each entry present with probability p, rows
    ascending: a Bernoulli process along each row drawn as geometric gaps (as izhijax's
    ``wiring.fixed_probability``)."""
    mean = p * n
    width = int(np.ceil(mean + 10.0 * np.sqrt(mean * (1.0 - p) + 1.0) + 10))
    indices, counts = [], []
    for start in range(0, n, rows_per_chunk):
        rows = min(n, start + rows_per_chunk) - start
        while True:
            pos = np.cumsum(rng.geometric(p, size=(rows, width)), axis=1) - 1
            if np.all(pos[:, -1] >= n):
                break
            width *= 2
        keep = pos < n
        indices.append(pos[keep])            # row-major: each row's targets, ascending
        counts.append(keep.sum(axis=1))
    indptr = np.r_[0, np.cumsum(np.concatenate(counts))]
    return np.concatenate(indices).astype(np.int32), indptr.astype(np.int32)


def build(args):
    """The network (a brainstate Module, states initialised) and n_exc."""
    import brainevent
    import brainstate
    import jax.numpy as jnp

    rng = np.random.default_rng(args.seed)
    if args.workload == "fig3":
        n, n_exc = 1000, 800
        params, w = fig3_arrays(rng)
    else:
        n, k = args.n, args.k
        n_exc = int(0.8 * n)
        re, ri = rng.uniform(size=n_exc), rng.uniform(size=n - n_exc)
        params = neuron_params(re, ri)
        indices, indptr = bernoulli_csr(rng, n, k / n)
        scale = 1000.0 / k
        row = np.repeat(np.arange(n), np.diff(indptr))          # presynaptic neuron of each entry
        data = np.where(row < n_exc, 0.5 * scale, -scale) * rng.uniform(size=indices.size)
        w = brainevent.CSR((jnp.asarray(data, jnp.float32), jnp.asarray(indices),
                            jnp.asarray(indptr)), shape=(n, n))

    class Izhikevich(brainstate.nn.Dynamics):
        """The Izhikevich (2003) population: v' = 0.04 v^2 + 5 v + 140 - u + I, u' = a (b v - u)."""

        def __init__(self, size, a, b, c, d, method):
            super().__init__(size)
            self.a, self.b, self.c, self.d = map(jnp.asarray, (a, b, c, d))
            self.method = method

        def init_state(self, batch_size=None, **kwargs):
            self.v = brainstate.HiddenState(jnp.full(self.varshape, -65.0, jnp.float32))
            self.u = brainstate.HiddenState(self.b * -65.0)
            self.spike = brainstate.ShortTermState(jnp.zeros(self.varshape, bool))

        def reset_state(self, batch_size=None, **kwargs):
            self.v.value = jnp.full(self.varshape, -65.0, jnp.float32)
            self.u.value = self.b * -65.0
            self.spike.value = jnp.zeros(self.varshape, bool)

        def update(self, current):
            dt = brainstate.environ.get_dt()
            v, u = self.v.value, self.u.value
            dv = lambda v: 0.04 * v * v + 5.0 * v + 140.0 - u + current
            if self.method == "euler":          # v and u from the old values (Brian2's euler)
                v_new = v + dt * dv(v)
                u_new = u + dt * (self.a * (self.b * v - u))
            else:                               # net.m: two half steps of v, u from the new v
                v_new = v + 0.5 * dt * dv(v)
                v_new = v_new + 0.5 * dt * dv(v_new)
                u_new = u + dt * (self.a * (self.b * v_new - u))
            spike = v_new >= 30.0
            self.v.value = jnp.where(spike, self.c, v_new)
            self.u.value = jnp.where(spike, u_new + self.d, u_new)
            self.spike.value = spike
            return spike

    class CSRProjection(brainstate.nn.Module):
        """Event-driven sparse projection: BinaryArray(spikes) @ CSR[pre, post] (as
        ``brainstate.nn.EventFixedProb`` does, with the CSR given)."""

        def __init__(self, csr):
            super().__init__()
            self.conn = csr
            self.weight = brainstate.ParamState(csr.data)

        def update(self, spikes):
            return brainevent.BinaryArray(spikes) @ self.conn.with_data(self.weight.value)

    class Network(brainstate.nn.Module):
        def __init__(self):
            super().__init__()
            self.neu = Izhikevich(n, params["a"], params["b"], params["c"], params["d"],
                                  args.method)
            if isinstance(w, np.ndarray) and args.conn == "dense":
                self.syn = brainstate.nn.EventLinear(n, n, weight=jnp.asarray(w))
            elif isinstance(w, np.ndarray):
                self.syn = CSRProjection(brainevent.CSR.fromdense(jnp.asarray(w)))
            else:
                self.syn = CSRProjection(w)
            self.amp = jnp.asarray(params["amp"])

        def init_state(self, *_, **__):
            self.count = brainstate.LongTermState(jnp.zeros(n, jnp.int32))

        def reset_state(self, *_, **__):
            self.count.value = jnp.zeros(n, jnp.int32)

        def update(self):
            # pulses of the previous step's spikes, then this step's noise; then the neurons
            current = self.syn(self.neu.spike.value) + self.amp * brainstate.random.randn(n)
            spike = self.neu(current)
            self.count.value += spike.astype(jnp.int32)

    net = Network()
    brainstate.nn.init_all_states(net)
    return net, n_exc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", nargs="?", default="fig3", choices=("fig3", "scaled"))
    ap.add_argument("n", nargs="?", type=int, default=1000, help="scaled: number of neurons")
    ap.add_argument("k", nargs="?", type=int, default=100, help="scaled: synapses per neuron")
    ap.add_argument("--steps", type=int, default=1000, help="steps of 1 ms per run")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs after the first (median)")
    ap.add_argument("--method", default="euler", choices=("euler", "izhikevich"))
    ap.add_argument("--conn", default="dense", choices=("dense", "csr"),
                    help="fig3: EventLinear on the dense W, or a brainevent.CSR of it")
    ap.add_argument("--backend", default=None, choices=("numba", "jax_raw"),
                    help="brainevent CPU backend of the products (default: brainevent's, numba)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import brainevent
    import brainstate
    import jax

    if args.backend:
        for prim in (brainevent.binary_densemv_p, brainevent.binary_csrmv_p):
            prim.set_default("cpu", args.backend)

    brainstate.environ.set(dt=1.0, precision=32)   # ms; the model is dimensionless, as izhijax's
    brainstate.random.seed(args.seed + 1)
    t0 = time.perf_counter()
    net, n_exc = build(args)
    jax.block_until_ready(net.neu.v.value)
    setup_s = time.perf_counter() - t0

    @brainstate.transform.jit
    def run():
        brainstate.transform.for_loop(lambda i: net.update(), np.arange(args.steps))
        return net.count.value

    t = time.perf_counter()
    counts = np.asarray(jax.block_until_ready(run()))
    first = time.perf_counter() - t
    times = []
    for _ in range(args.repeats):
        brainstate.nn.reset_all_states(net)
        t = time.perf_counter()
        jax.block_until_ready(run())
        times.append(time.perf_counter() - t)
    run_s = statistics.median(times) if times else first
    n = counts.size
    seconds = args.steps / 1000.0
    compile_s = max(0.0, first - run_s)
    print(json.dumps(dict(
        setup_s=setup_s, build_s=compile_s, compile_s=compile_s, first_call_s=first, run_s=run_s,
        run_all_s=times, steps=args.steps, spikes=int(counts.sum()),
        rate_exc=float(counts[:n_exc].sum() / n_exc / seconds),
        rate_inh=float(counts[n_exc:].sum() / (n - n_exc) / seconds),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        version=f"brainstate {brainstate.__version__}, brainevent {brainevent.__version__}, "
                f"jax {jax.__version__}",
        method=args.method, conn="csr" if args.workload == "scaled" else args.conn,
        backend=brainevent.binary_densemv_p.defaults["cpu"], numba=_version("numba"),
        device=str(jax.devices()[0]))))


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
