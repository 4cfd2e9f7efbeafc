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
from .network import init_state
from . import memory
from .simulate import (DivergenceError, DivergenceWarning, Recording, _check_on_divergence,
                       _recording)
from .validate import check_key as _check_key
from .validate import STEP_INDEX_MAX, check_n_steps, check_params

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
    key = _check_key(key)
    if isinstance(trials, (bool, np.bool_)) or not isinstance(trials, (int, np.integer)) or \
            trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    return jax.random.split(key, int(trials))


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
        n_steps: steps per network (a positive integer).
        axes: dict name -> 1-D values, in axis order (see :func:`apply_values` for the names).
        trials: number of trials (a positive integer; adds a last axis ``"trial"``), or a PRNG key
            array of shape ``(k,)`` to use as the trial keys; None for a single key.
        grid: True for the Cartesian product of the axes; False to zip them (equal lengths) into
            one axis ``"point"``.
        apply: optional ``apply(params, values) -> params`` for values not named in
            :func:`apply_values`; must be hashable (a module-level function) to avoid recompiling.
        summarize: traceable ``summarize(rec) -> dict`` of arrays per network (default
            :func:`summaries`); it receives the run's :class:`izhijax.Recording` without ``v``/``u``.
            Like ``apply`` it is part of the compiled program: pass the same function object
            each call (a new lambda each time recompiles).
        record_spikes: give ``summarize`` the raster (``rec.spikes``, ``(T, n)`` per network).
        batch_size: networks per compiled call (a positive integer, rounded up to a multiple of the
            device count); default all at once. Smaller batches bound memory; each batch is one
            call.
        progress: tqdm progress bar over batches.
        devices: devices to shard each batch over; default ``jax.devices()``.
        on_divergence: ``"warn"`` (default) warns a :class:`izhijax.DivergenceWarning` naming how
            many networks diverged (``v`` or ``u`` NaN or infinite; a network's summaries are then
            meaningless), ``"raise"`` raises :class:`izhijax.DivergenceError`, ``"ignore"``.
            Either way ``data["diverged_at"]`` holds each network's first diverged step (-1: none).

    Returns:
        :class:`SweepResult` with ``data[name]`` of shape ``(*axis sizes, *summary shape)``, and
        ``data["diverged_at"]`` (int32, the axis sizes).

    Raises:
        ValueError, TypeError: a bad argument, before anything is compiled or allocated: every
            argument is checked at entry (:mod:`izhijax._src.validate` for ``params``, ``key`` and
            ``n_steps``; names of ``axes`` known to :func:`apply_values` unless ``apply`` is given,
            values finite in the network's dtype, noise amplitudes and scales ``>= 0``, and the
            networks at each axis's smallest and largest value pass :func:`check_params`).
        ValueError: the sweep needs more memory than is available (one batch plus the summaries of
            every network; see :mod:`izhijax._src.memory`), with how much it needs.

    Noise. A network's noise is the single run's with its key. When every device's share of a
    batch holds more networks than there are trial keys, the batch draws each key's noise
    once and its networks read it (common random numbers cost one draw per key, not per network);
    otherwise each network draws its own. The values are the same either way.
    """
    params = check_params(params)
    n_steps = _check_steps(n_steps)
    key = _check_key(key)
    if not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)
    if not isinstance(grid, (bool, np.bool_)):
        raise TypeError(f"grid must be True (Cartesian product) or False (zip the axes), got "
                        f"{grid!r}")
    for name, fn in (("apply", apply), ("summarize", summarize)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be a function, got {type(fn).__name__}")
    if summarize is None:
        raise TypeError("summarize must be a function summarize(rec) -> dict, got None")
    if not isinstance(record_spikes, (bool, np.bool_)):
        raise TypeError(f"record_spikes must be True or False, got {record_spikes!r}")
    _check_on_divergence(on_divergence)
    if batch_size is not None and (isinstance(batch_size, (bool, np.bool_)) or not isinstance(
            batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None (all networks at once), "
                         f"got {batch_size!r}")
    names, coords, lengths = _axes(params, axes, grid, apply)
    n_points = math.prod(lengths) if grid else lengths[0]
    n_keys = _n_trial_keys(trials)
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("devices must name at least one device, got an empty list")
    total = n_points * n_keys
    size = total if batch_size is None else min(int(batch_size), total)
    size = -(-size // len(devices)) * len(devices)       # integers: sizes may be huge
    shared = n_keys * len(devices) < size           # one noise draw per key, not per network
    _check_sweep_memory(params, n_steps, names, total, size, n_keys, shared, devices,
                        record_spikes, summarize)
    _check_extremes(params, names, coords, apply)

    dims = names if grid else ("point",)
    if not grid:
        coords["point"] = np.arange(n_points)
    if trials is None:
        keys = key[None]
    else:
        keys = trial_keys(key, trials) if np.ndim(trials) == 0 else trials
        dims = dims + ("trial",)
        coords["trial"] = np.arange(n_keys)
    shape = tuple(len(coords[d]) for d in dims)
    dtype = params.dtype
    key_data = np.asarray(jax.random.key_data(keys))
    impl = str(jax.random.key_impl(keys))

    def values_of(idx):            # the swept values of networks idx (point-major, trial last)
        point = idx // n_keys
        where = np.unravel_index(point, lengths) if grid else [point] * len(names)
        return np.stack([coords[n][i] for n, i in zip(names, where)], axis=1).astype(dtype)

    mesh = Mesh(np.array(devices), ("batch",))
    replicated = NamedSharding(mesh, PartitionSpec())
    params = jax.device_put(params, replicated)
    if shared:
        shared_keys = jax.device_put(key_data, replicated)
    starts = range(0, total, size)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="sweep", unit="batch", total=len(starts))
    pieces = []
    for start in starts:
        idx = np.minimum(np.arange(start, start + size), total - 1)     # pad with the last network
        key_index = (idx % n_keys).astype(np.int32)
        if shared:
            keys_in, index_in = shared_keys, _shard(key_index, mesh)
        else:
            keys_in, index_in = _shard(key_data[key_index], mesh), None
        out = _batch(params, _shard(values_of(idx), mesh), keys_in, index_in,
                     names=names, n_steps=n_steps, apply=apply, summarize=summarize,
                     record_spikes=bool(record_spikes), impl=impl)
        keep = min(size, total - start)
        pieces.append(jax.tree.map(lambda x: _gather(x)[:keep], out))
    summary, bad = jax.tree.map(
        lambda *xs: np.concatenate(xs).reshape(shape + xs[0].shape[1:]), *pieces)
    data = dict(summary)
    data["diverged_at"] = bad
    _warn_diverged(bad, on_divergence)
    return SweepResult(dims=dims, coords=coords, data=data)


def _check_steps(n_steps, name="n_steps"):
    """A positive integer number of steps a run from ``init_state`` can take: its step index
    ``t`` is int32, so at most ``2**31 - 1``."""
    n_steps = check_n_steps(n_steps, name)
    limit = STEP_INDEX_MAX[np.dtype(np.int32)]
    if n_steps > limit:
        raise ValueError(f"{name} must be at most {limit} (a run's step index is int32), got "
                         f"{memory.format_count(n_steps)}")
    return n_steps


def _n_trial_keys(trials):
    """How many trial keys ``trials`` asks for (1 for None), without drawing them."""
    if trials is None:
        return 1
    if isinstance(trials, (bool, np.bool_)) or isinstance(trials, (float, np.floating)):
        raise ValueError(f"trials must be a positive integer, a 1-D array of typed PRNG keys or "
                         f"None, got {trials!r}")
    if isinstance(trials, (int, np.integer)):
        if trials < 1:
            raise ValueError(f"trials must be a positive integer, a 1-D array of typed PRNG keys "
                             f"or None, got {trials!r}")
        return int(trials)
    dtype = getattr(trials, "dtype", None)
    if dtype is None or not jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key) or np.ndim(
            trials) != 1 or np.shape(trials)[0] < 1:
        got = (f"dtype {dtype} shape {np.shape(trials)}" if dtype is not None
               else type(trials).__name__)
        raise ValueError(f"trials must be a positive integer, a non-empty 1-D array of typed PRNG "
                         f"keys (jax.random.split(jax.random.key(0), k)) or None, got {got}")
    return int(np.shape(trials)[0])


def _summary_bytes(params, n_steps, record_spikes, summarize):
    """Bytes of one network's summaries (and its diverged step), from their shapes alone."""
    n, dtype = params.n, params.dtype
    i32 = jnp.int32
    spans = tuple((name, lo, hi) for name, (lo, hi) in params.slices().items())
    sds = jax.ShapeDtypeStruct
    rec = Recording(spikes=sds((n_steps, n), jnp.bool_) if record_spikes else None,
                    v=sds((n_steps, 0), dtype), u=sds((n_steps, 0), dtype), counts=sds((n,), i32),
                    pop_counts=sds((n_steps, len(spans)), i32), v_index=sds((0,), i32),
                    u_index=sds((0,), i32), t0=sds((), i32), dt=params.config.dt,
                    populations=spans, diverged_at=sds((), i32))
    try:
        out = jax.eval_shape(summarize, rec)
    except Exception:       # noqa: BLE001 - an estimate must not fail a sweep the run would accept
        return 4
    return 4 + sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize
                   for x in jax.tree_util.tree_leaves(out))


def _check_sweep_memory(params, n_steps, names, total, size, n_keys, shared, devices,
                        record_spikes, summarize):
    """Refuse a sweep whose batch and summaries do not fit (see :func:`memory.sweep_bytes`).

    Checked twice: first with the smallest summaries (4 bytes per network: the batch alone may
    already be too large, and finding the summaries' size traces ``summarize`` for ``n_steps``),
    then with the summaries' size from their shapes."""
    on_host = devices[0].platform == "cpu"
    held = size if on_host else size // len(devices)       # networks in one memory at once
    what = (f"sweep of {memory.format_count(total)} networks x {memory.format_count(n_steps)} "
            f"steps")
    batch_parts = ("states", "recordings", "noise")

    def check(per):
        need = memory.sweep_bytes(params, n_steps, total, held, n_values=len(names),
                                  n_keys=n_keys, record_spikes=record_spikes, summary_bytes=per,
                                  shared_keys=(n_keys * (len(devices) if on_host else 1)
                                               if shared else None))
        advice = "use fewer points or trials, a smaller batch_size or a shorter duration"
        have = memory.available_bytes(None if on_host else devices[0])
        if have is not None:                 # the largest batch that would fit, if one would
            batch = int(need.select(batch_parts))
            rest = int(need) - batch if on_host else 0
            room = 9 * have // 10 - rest
            fits = room * held // batch if batch > 0 and room > 0 else 0
            if 0 < fits < held:
                advice = (f"use batch_size={fits * (1 if on_host else len(devices))} or less, "
                          f"fewer points or trials, or a shorter duration")
        memory.check_placed(need, batch_parts, what, None if on_host else devices[0],
                            advice=advice)

    check(4)
    check(_summary_bytes(params, n_steps, record_spikes, summarize))


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


NOISE_NAMES = ("noise_amp", "noise_scale")
"""Swept values that must be ``>= 0`` (a noise amplitude, a factor on it), also per population
(``"exc.noise_amp"``, ``"exc_noise_scale"``)."""


def _known(params, name):
    """True if :func:`apply_values` sets ``name`` itself (else it is left to ``apply``)."""
    spans = params.slices()
    if name in SCALES or any(name in (f"{p}_weight_scale", f"{p}_noise_scale") for p in spans):
        return True
    pop, _, field = name.rpartition(".")
    return (pop in spans or not pop) and _has(params, field)


def _is_noise(params, name):
    pop, _, field = name.rpartition(".")
    return field in NOISE_NAMES or any(name == f"{p}_noise_scale" for p in params.slices())


def _axes(params, axes, grid, apply):
    """Validated axes: names, coordinates (float64 NumPy arrays) and lengths."""
    if not isinstance(axes, dict) or not axes:
        raise ValueError(f"axes must be a non-empty dict name -> 1-D values, got "
                         f"{axes if isinstance(axes, dict) else type(axes).__name__!r}")
    names = tuple(axes)
    coords = {}
    finfo = np.finfo(np.dtype(params.dtype))
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"axes names must be strings, got {name!r}")
        if apply is None and not _known(params, name):
            raise ValueError(f"unknown sweep value {name!r} in axes: expected one of "
                             f"{value_names(params)} or an apply function")
        try:
            v = np.asarray(axes[name], dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"axes[{name!r}] must be a 1-D sequence of numbers, got "
                            f"{type(axes[name]).__name__}") from None
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"axes[{name!r}] must be a non-empty 1-D sequence of values, got "
                             f"shape {v.shape}")
        bad = ~np.isfinite(v) | (np.abs(v) > finfo.max)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"axes[{name!r}] must be finite (in the network's dtype "
                             f"{np.dtype(params.dtype).name}), got {v[i].item()!r} at index {i}")
        if _is_noise(params, name) and (v < 0).any():
            i = int(np.argmax(v < 0))
            raise ValueError(f"axes[{name!r}] must be >= 0 (a noise amplitude or a factor on it), "
                             f"got {v[i].item()!r} at index {i}")
        coords[name] = v
    lengths = tuple(len(coords[n]) for n in names)
    if not grid and len(set(lengths)) != 1:
        raise ValueError(f"grid=False needs values of equal length, got "
                         f"{ {n: len(coords[n]) for n in names} }")
    return names, coords, lengths


def _check_extremes(params, names, coords, apply):
    """The networks at each axis's smallest and largest value (the others at their first value)
    must be valid networks (:func:`check_params`): a swept field stays valid for that field."""
    first = {n: coords[n][0] for n in names}
    seen = set()
    for name in names:
        for value in (coords[name].min(), coords[name].max()):
            point = dict(first, **{name: value})
            marker = tuple(point.values())
            if marker in seen:
                continue
            seen.add(marker)
            label = ", ".join(f"{k}={float(v):g}" for k, v in point.items())
            try:
                net = apply_values(params, point, apply)
            except (TypeError, ValueError) as err:
                raise ValueError(f"axes: the network at {label} cannot be built: {err}") from None
            try:
                check_params(net)
            except (TypeError, ValueError) as err:
                raise type(err)(f"axes[{name!r}]: the network at {label} is invalid: "
                                f"{err}") from None


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
