"""Parameter sweeps: one network definition over a grid of values and keys, in compiled batches.

    import jax, izhijax as izj
    params = izj.izhikevich2003(jax.random.key(0))
    res = izj.sweep.run(params, jax.random.key(1), 1000,
                        {"exc_weight_scale": [0.5, 1.0, 1.5], "noise_scale": [0.5, 1.0]}, trials=4)
    res.dims                      # ('exc_weight_scale', 'noise_scale', 'trial')
    res["rate_exc"].shape         # (3, 2, 4), Hz
    res.sel(noise_scale=1.0)      # a SweepResult over the remaining axes

Each network of the sweep is the unbatched :func:`izhijax.simulate` of ``apply_values(params, point)``
with its trial key (the same compiled ``lax.scan``, vmapped). Summaries (population rates, dominant
rhythm, Golomb's synchrony chi) are computed inside the compiled call from the spike counts, so the
sweep keeps a few numbers per network, not rasters.

Precision: in float64 every network of a sweep is spike for spike the unbatched run (tested). In
float32 the batch's matrix-matrix product may add a step's synaptic pulses in another order than the
single network's matrix-vector product; in this chaotic network that last-bit difference makes single
spikes drift apart after tens to hundreds of steps, while rates and rhythms stay those of the regime.

Named values (see :func:`apply_values`): a per-neuron field of :class:`izhijax.Params` (``bias``,
``noise_amp``, ``a`` ...) set to the value for every neuron; ``noise_scale`` multiplies
``noise_amp``; ``weight_scale``, ``exc_weight_scale`` and ``inh_weight_scale`` scale the synapses of
all, the excitatory or the inhibitory presynaptic neurons. Anything else goes through ``apply``.

Shared weights. The parameters are passed to ``vmap`` unbatched (``in_axes=None``); weight scales
become a per-presynaptic gain (:class:`izhijax.connectivity.PreScaled`), so the batch shares one
``W`` and its propagation is the matrix-matrix product ``W @ (gain * S)``, ``S`` of shape
``(n, batch)``, rather than ``batch`` copies of ``W``. Event-driven and sparse networks
(:class:`~izhijax.connectivity.EventDense`, :class:`~izhijax.connectivity.Sparse`) are swept the
same way: their batch propagates every network with one all-synapse product (see
:mod:`izhijax.connectivity`), which on a CPU costs what the dense batch costs.

Shared noise. Networks with the same trial key (every grid point, with common random numbers) get
the same thalamic noise, so a batch draws each key's noise once per block of steps and its networks
read it, rather than each drawing it again: with one key the noise costs one network's draw for
the whole batch (Fig. 3 network, batch of 64 on 2 CPU cores: about 0.19 s of a 1.0 s call saved).

Devices. Each batch is sharded along its network axis over every device JAX sees (a one-axis
``jax.sharding.Mesh``, parameters replicated): the same call runs on one CPU, several GPUs or a TPU
slice. A batch is padded (by repeating its last network) to a multiple of the device count and the
padding is dropped. ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` shows the sharding on CPU.

Multi-host (a TPU pod, several GPU nodes): start the same script on every host and call
``jax.distributed.initialize()`` (coordinator address, process count and id; automatic on Cloud TPU
and SLURM) before anything else; ``jax.devices()`` then lists every host's devices, the inputs are
built with ``jax.make_array_from_callback`` (each process fills its own shards) and the results are
gathered to every process with ``multihost_utils.process_allgather``. Every process returns the
full result; write files from ``jax.process_index() == 0`` only.
"""

import dataclasses
import itertools
import math
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import analysis
from . import engine
from .connectivity import PreScaled
from .network import Network, init_state
from .simulate import DivergenceError, DivergenceWarning, _check_on_divergence, _recording
from .validate import check_key as _check_key

SCALES = ("weight_scale", "noise_scale")
"""Named values that scale the whole network (1 leaves it unchanged); per population
``<population>_weight_scale`` and ``<population>_noise_scale``."""


def summaries(rec):
    """Default per-network summary, traceable: rates, rhythm and synchrony from the counts.

    Args:
        rec: :class:`izhijax.Recording` of one network (the raster is not needed).

    Returns:
        dict of scalars: ``rate_<population>`` for each population and ``rate_all`` (Hz),
        ``rhythm_hz`` (dominant frequency of the first population's rate, Hz, as in
        :func:`izhijax.summary`), ``chi`` (Golomb's synchrony), ``spikes`` (total count), and
        ``alpha_hz``, ``gamma_hz``, ``alpha_power``, ``gamma_power`` (:func:`izhijax.rhythm_bands`).
    """
    rates = analysis.population_rates(rec)
    out = {f"rate_{name}": rates[name] for name in rec.names}
    out["rate_all"] = rates["all"]
    bands = analysis.band_stats(analysis.population_rate(rec, rec.names[0]), rec.dt)
    out.update({"rhythm_hz": bands["rhythm_hz"],
                "chi": analysis.synchrony(rec), "spikes": jnp.sum(rec.counts)})
    out.update({k: bands[k] for k in ("alpha_hz", "gamma_hz", "alpha_power", "gamma_power")})
    return out


def value_names(params):
    """The values :func:`apply_values` understands for a network (besides ``apply``'s)."""
    fields = [f for f in ("noise_amp", "bias", *params.populations[0].model.param_names, "v0")
              if _has(params, f)]
    out = ["weight_scale", "noise_scale"] + fields
    for pop in params.populations:
        out += [f"{pop.name}_weight_scale", f"{pop.name}_noise_scale"]
        out += [f"{pop.name}.{f}" for f in ("noise_amp", "bias", *pop.model.param_names)]
    return tuple(out)


def _has(params, field):
    try:
        params.flat(field)
        return True
    except AttributeError:
        return False


def apply_values(params, values, apply=None):
    """The parameters of one network of a sweep: ``params`` with the named values set.

    Args:
        params: :class:`izhijax.Network` of the base network.
        values: dict name -> scalar (may be traced). Names:

            * a per-neuron field (``"bias"``, ``"noise_amp"``, ``"a"`` ...): that value for every
              neuron; ``"<population>.<field>"`` (``"exc.bias"``): for one population;
            * ``"noise_scale"``, ``"<population>_noise_scale"``: multiply ``noise_amp`` of every
              neuron / of one population;
            * ``"weight_scale"``, ``"<population>_weight_scale"`` (``"exc_weight_scale"``):
              multiply the synapses from every neuron / from one population.

            Other names are left to ``apply``.
        apply: optional ``apply(params, values) -> params`` run after the named values, for
            anything else (it receives every value, named or not).

    Returns:
        :class:`izhijax.Network` with the same shapes and dtypes, the weights of each projection
        as :class:`izhijax.connectivity.PreScaled` if a weight scale was given.
    """
    spans = params.slices()
    n, dtype = params.n, params.dtype
    gain = None
    for name, value in values.items():
        pop, _, field = name.rpartition(".")
        scale_of = next((p for p in spans if name in (f"{p}_weight_scale", f"{p}_noise_scale")),
                        None)
        if name in ("weight_scale", "noise_scale") or scale_of is not None:
            value = jnp.asarray(value, dtype)
            lo, hi = (0, n) if scale_of is None else spans[scale_of]
            mask = (jnp.arange(n) >= lo) & (jnp.arange(n) < hi)
            if name.endswith("weight_scale"):
                gain = (jnp.ones(n, dtype) if gain is None else gain) * jnp.where(mask, value, 1.0)
            else:
                amp = params.flat("noise_amp")
                params = params.replace(noise_amp=amp * jnp.where(mask, value, 1.0).astype(dtype))
        elif pop in spans and _has(params, field):
            old = params.flat(field)
            lo, hi = spans[pop]
            new = old.at[lo:hi].set(jnp.asarray(value, old.dtype))
            params = params.replace(**{field: new})
        elif not pop and _has(params, field):
            old = params.flat(field)
            params = params.replace(**{field: jnp.broadcast_to(jnp.asarray(value, old.dtype),
                                                               old.shape)})
        elif apply is None:
            raise ValueError(f"unknown sweep value {name!r}: expected one of {value_names(params)} "
                             f"or an apply function")
    if gain is not None:
        projections = []
        for proj in params.projections:
            s0, s1 = params.span(proj.source)
            w, g = proj.weights, gain[s0:s1]
            w = PreScaled(w.matrix, w.scale * g) if isinstance(w, PreScaled) else PreScaled(w, g)
            projections.append(proj.replace(weights=w))
        params = params.replace(projections=tuple(projections))
    return params if apply is None else apply(params, values)


def trial_keys(key, trials):
    """The keys of ``trials`` repeated runs: ``jax.random.split(key, trials)``, shape ``(trials,)``."""
    return jax.random.split(_check_key(key), int(trials))


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """Summaries of a sweep with named axes (NumPy arrays, on the host).

    Attributes:
        dims: axis names, e.g. ``("exc_weight_scale", "noise_scale", "trial")``.
        coords: name -> coordinate values along that axis, NumPy array of shape ``(len,)``.
            In a zipped sweep (``grid=False``) the axis is ``"point"`` (coordinates ``0 .. P-1``)
            and every swept name is also in ``coords``, its value at each point.
        data: summary name -> array of shape ``shape + extra`` (extra: the summary's own shape,
            e.g. ``(T, 2)`` for population counts).
    """

    dims: tuple
    coords: dict
    data: dict

    @property
    def shape(self):
        """Sizes of the named axes."""
        return tuple(len(self.coords[d]) for d in self.dims)

    def __getitem__(self, name):
        return self.data[name]

    def sel(self, **where):
        """The sub-sweep at given coordinate values (exact match), dropping those axes.

        ``res.sel(noise_scale=1.0, trial=0)``; raises ``KeyError`` for a value not on the axis.
        """
        index = [slice(None)] * len(self.dims)
        for name, value in where.items():
            if name not in self.dims:
                raise KeyError(f"no axis {name!r}; axes are {self.dims}")
            hits = np.flatnonzero(self.coords[name] == value)
            if hits.size == 0:
                raise KeyError(f"{value!r} is not a coordinate of {name!r}")
            index[self.dims.index(name)] = int(hits[0])
        index = tuple(index)
        dims = tuple(d for d in self.dims if d not in where)
        return SweepResult(dims=dims, coords={d: self.coords[d] for d in dims},
                           data={k: v[index] for k, v in self.data.items()})

    def to_dict(self):
        """Plain lists for JSON: ``{"dims", "coords", "data"}`` (nan becomes None)."""
        clean = lambda a: [None if isinstance(x, float) and math.isnan(x) else x
                           for x in np.asarray(a, float).ravel().tolist()]
        return {"dims": list(self.dims),
                "coords": {k: np.asarray(v).tolist() for k, v in self.coords.items()},
                "data": {k: {"shape": list(np.shape(v)), "values": clean(v)}
                         for k, v in self.data.items()}}


@partial(jax.jit, static_argnames=("names", "n_steps", "apply", "summarize", "record_spikes",
                                   "impl"))
def _batch(params, values, key_data, key_index, *, names, n_steps, apply, summarize,
           record_spikes, impl):
    """Summaries and first diverged step (-1: none) of a batch of ``B`` networks.

    ``values``: ``(B, len(names))``. ``key_data``: raw keys, either one per network ``(B, ...)``
    (``key_index`` None), or ``(k, ...)`` shared by the batch with ``key_index`` ``(B,)`` int32
    saying which key each network uses: the noise of each of the ``k`` keys is then drawn once
    per batch, not once per network (with ``k == 1`` it is simply broadcast).
    """
    none = jnp.zeros((0,), jnp.int32)
    keys = jax.random.wrap_key_data(key_data, impl=impl)

    def one(vals, key, index):
        p = apply_values(params, dict(zip(names, vals)), apply)
        state = init_state(p)
        _, out = engine.run(p, key, state, None, none, none, index, n_steps=n_steps,
                            record_spikes=record_spikes)
        rec = _recording(p, out, none, none, state.t)
        return summarize(rec), rec.diverged_at

    if key_index is None:
        return jax.vmap(lambda v, k: one(v, k, None))(values, keys)
    if keys.shape[0] == 1:
        return jax.vmap(lambda v: one(v, keys[0], None))(values)
    return jax.vmap(lambda v, i: one(v, keys, i))(values, key_index)


def run(params, key, n_steps, axes, *, trials=None, grid=True, apply=None, summarize=summaries,
        record_spikes=False, batch_size=None, progress=False, devices=None, on_divergence="warn"):
    """Simulate one network over a grid (or a list) of parameter values and trial keys.

    Args:
        params: :class:`izhijax.Params` of the base network.
        key: PRNG key; without ``trials`` every network runs with it, with ``trials`` the trial keys
            are :func:`trial_keys` (the same keys at every grid point: common random numbers).
        n_steps: steps per network.
        axes: dict name -> 1-D values, in axis order (see :func:`apply_values` for the names).
        trials: number of trials (adds a last axis ``"trial"``), or a PRNG key array of shape
            ``(k,)`` to use as the trial keys; None for a single key.
        grid: True for the Cartesian product of the axes; False to zip them (equal lengths) into
            one axis ``"point"``.
        apply: optional ``apply(params, values) -> params`` for values not named in
            :func:`apply_values`; must be hashable (a module-level function) to avoid recompiling.
        summarize: traceable ``summarize(rec) -> dict`` of arrays per network (default
            :func:`summaries`); it receives the run's :class:`izhijax.Recording` without ``v``/``u``.
            Like ``apply`` it is part of the compiled program: pass the same function object
            each call (a new lambda each time recompiles).
        record_spikes: give ``summarize`` the raster (``rec.spikes``, ``(T, n)`` per network).
        batch_size: networks per compiled call (rounded up to a multiple of the device count);
            default all at once. Smaller batches bound memory; each batch is one call.
        progress: tqdm progress bar over batches.
        devices: devices to shard each batch over; default ``jax.devices()``.
        on_divergence: ``"warn"`` (default) warns a :class:`izhijax.DivergenceWarning` naming how
            many networks diverged (``v`` or ``u`` NaN or infinite; a network's summaries are then
            meaningless), ``"raise"`` raises :class:`izhijax.DivergenceError`, ``"ignore"``.
            Either way ``data["diverged_at"]`` holds each network's first diverged step (-1: none).

    Returns:
        :class:`SweepResult` with ``data[name]`` of shape ``(*axis sizes, *summary shape)``, and
        ``data["diverged_at"]`` (int32, the axis sizes).

    Noise. A network's noise is the single run's with its key. When every device's share of a
    batch holds more networks than there are trial keys, the batch draws each key's noise
    once and its networks read it (common random numbers cost one draw per key, not per network);
    otherwise each network draws its own. The values are the same either way.
    """
    if not isinstance(params, Network):
        raise TypeError(f"params must be an izhijax.Network, got {type(params).__name__}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    key = _check_key(key)
    if not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)
    names, coords, points = _points(axes, grid)
    dims = names if grid else ("point",)
    if not grid:
        coords["point"] = np.arange(points.shape[0])
    if trials is None:
        keys = key[None]
    else:
        keys = trial_keys(key, trials) if np.ndim(trials) == 0 else trials
        if not jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key) or keys.ndim != 1:
            raise ValueError("trials must be an integer or a 1-D array of typed PRNG keys")
        dims = dims + ("trial",)
        coords["trial"] = np.arange(keys.shape[0])
    shape = tuple(len(coords[d]) for d in dims)
    n_keys = keys.shape[0]
    total = points.shape[0] * n_keys
    dtype = params.dtype
    _check_on_divergence(on_divergence)
    values = np.repeat(points, n_keys, axis=0).astype(dtype)          # point-major, trial last
    key_data = np.asarray(jax.random.key_data(keys))
    key_index = np.arange(total, dtype=np.int32) % n_keys
    impl = str(jax.random.key_impl(keys))

    devices = jax.devices() if devices is None else list(devices)
    mesh = Mesh(np.array(devices), ("batch",))
    size = total if batch_size is None else min(int(batch_size), total)
    if size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    size = math.ceil(size / len(devices)) * len(devices)
    replicated = NamedSharding(mesh, PartitionSpec())
    params = jax.device_put(params, replicated)
    shared = n_keys * len(devices) < size           # one noise draw per key, not per network
    if shared:
        shared_keys = jax.device_put(key_data, replicated)
    starts = range(0, total, size)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="sweep", unit="batch", total=len(starts))
    pieces = []
    for start in starts:
        idx = np.minimum(np.arange(start, start + size), total - 1)     # pad with the last network
        if shared:
            keys_in, index_in = shared_keys, _shard(key_index[idx], mesh)
        else:
            keys_in, index_in = _shard(key_data[key_index[idx]], mesh), None
        out = _batch(params, _shard(values[idx], mesh), keys_in, index_in,
                     names=names, n_steps=int(n_steps), apply=apply, summarize=summarize,
                     record_spikes=record_spikes, impl=impl)
        keep = min(size, total - start)
        pieces.append(jax.tree.map(lambda x: _gather(x)[:keep], out))
    summary, bad = jax.tree.map(
        lambda *xs: np.concatenate(xs).reshape(shape + xs[0].shape[1:]), *pieces)
    data = dict(summary)
    data["diverged_at"] = bad
    _warn_diverged(bad, on_divergence)
    return SweepResult(dims=dims, coords=coords, data=data)


def _warn_diverged(bad, on_divergence):
    """Warn or raise (``on_divergence``) if some networks of a sweep diverged."""
    count = int(np.sum(bad >= 0))
    if count == 0 or on_divergence == "ignore":
        return
    message = (f"{count} of {bad.size} networks of the sweep diverged (v or u became NaN or "
               f"infinite; their summaries are meaningless): see data['diverged_at'], and try a "
               f"smaller dt or smaller values")
    if on_divergence == "raise":
        raise DivergenceError(message)
    warnings.warn(message, DivergenceWarning, stacklevel=3)


def _points(axes, grid):
    """Axis names, coordinates, and the sweep's points as an array ``(P, len(names))``."""
    if not isinstance(axes, dict) or not axes:
        raise ValueError("axes must be a non-empty dict name -> 1-D values")
    names = tuple(axes)
    coords = {}
    for name in names:
        v = np.asarray(axes[name], dtype=float)
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"values of {name!r} must be a non-empty 1-D sequence, got shape {v.shape}")
        coords[name] = v
    if grid:
        points = np.array(list(itertools.product(*(coords[n] for n in names))), dtype=float)
    else:
        lengths = {len(coords[n]) for n in names}
        if len(lengths) != 1:
            raise ValueError(f"grid=False needs values of equal length, got "
                             f"{ {n: len(coords[n]) for n in names} }")
        points = np.stack([coords[n] for n in names], axis=1)
    return names, coords, points


def _shard(x, mesh):
    """A host array as a global array split along its first axis over the mesh's devices."""
    sharding = NamedSharding(mesh, PartitionSpec("batch"))
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def _gather(x):
    """A (possibly multi-host) sharded result as one host NumPy array."""
    if x.is_fully_addressable:
        return np.asarray(x)
    from jax.experimental import multihost_utils
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
