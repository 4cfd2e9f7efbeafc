"""Spike trains out of izhijax in the field's formats: Neo objects and NWB files (optional extras).

:func:`to_neo` turns a :class:`izhijax.Recording` into a ``neo.Segment`` (one ``SpikeTrain`` per
neuron, ``AnalogSignal`` s for the recorded ``v`` and ``u``), which Elephant, viziphant and every
Neo IO take; :func:`to_nwb` writes a Neurodata Without Borders file (the units table and the
traces) and :func:`from_nwb` reads its spike times back. Neither package is a dependency of
izhijax: they are imported when called (``pip install "izhijax[neo]"``, ``"izhijax[nwb]"``).

Times are those of :meth:`izhijax.Recording.spike_times`: a spike at the start time of the step
whose update crossed the threshold, ``(t0 + step) * dt`` ms, exactly (Neo keeps ms; NWB stores
seconds, ``ms * 1e-3``, and :meth:`NWBSpikes.spike_times` recovers the ms bit for bit). Traces
are sampled at the same times: ``v`` after each step's update and before the reset (Brian2's
``when='after_thresholds'``), so it shows the spike peaks.
"""

import contextlib
import dataclasses
import datetime
import json
import os
import uuid
from typing import Optional

import numpy as np

NEO_HINT = 'pip install "izhijax[neo]"'
NWB_HINT = 'pip install "izhijax[nwb]"'

_NWB_UNITS = {"mV": ("volts", 1e-3), "mV/ms": ("volts/second", 1.0), "pA": ("amperes", 1e-12),
              "nA": ("amperes", 1e-9)}
"""Model units -> (NWB's SI unit, conversion): data are stored as izhijax has them, and
``data * conversion`` is in the SI unit (NWB's convention)."""


def _import_neo():
    try:
        import neo
        import quantities as pq
    except ImportError as err:
        raise ImportError(f"exporting to Neo needs the neo package: {NEO_HINT}") from err
    return neo, pq


def _import_pynwb():
    try:
        import pynwb
    except ImportError as err:
        raise ImportError(f"reading or writing NWB files needs the pynwb package: "
                          f"{NWB_HINT}") from err
    return pynwb


def require_nwb():
    """Raise the ImportError of :func:`to_nwb` now if pynwb is missing (the CLI checks first)."""
    _import_pynwb()


# --- what both formats need ---------------------------------------------------------------------


def _version():
    try:
        from izhijax import __version__
        return str(__version__)
    except ImportError:     # pragma: no cover
        return "unknown"


def _check_recording(rec):
    """The spike times ``(i, t)`` of an unbatched recording with a raster, and its bounds."""
    from .analysis import check_recording
    check_recording(rec)
    if rec.spikes is not None and np.ndim(rec.spikes) != 2:
        raise ValueError(f"expected the recording of one run (raster (T, n)), got a raster of "
                         f"shape {np.shape(rec.spikes)} (take one run of a batch first)")
    i, t = rec.spike_times()      # raises for record_spikes=False or a traced recording
    t0 = int(np.asarray(rec.t0))
    return i, t, t0


def _population_of(rec):
    """Population name of every neuron, and each neuron's index within its population."""
    names = np.empty(rec.n, dtype=object)
    local = np.zeros(rec.n, dtype=np.int64)
    for name, lo, hi in rec.populations:
        names[lo:hi] = name
        local[lo:hi] = np.arange(hi - lo)
    return names, local


def _plain(x):
    """A model's static field as a JSON / annotation friendly value."""
    if isinstance(x, (bool, int, float, str)) or x is None:
        return x
    return str(x)


def _neuron_params(rec, params):
    """Per neuron: model class name, model settings and per-neuron values, from the network.

    Returns ``(models, settings, values)``: ``models[i]`` the class name, ``settings[i]`` the
    model object's static fields as a dict, ``values`` ``{field: (n,) float64}`` (NaN where a
    neuron's model lacks the field): model parameters, ``noise_amp``, ``bias`` and the initial
    state ``<variable>0``.
    """
    if params is None:
        return None
    if params.n != rec.n or params.names != rec.names:
        raise ValueError(f"params do not match the recording: network {params.names} with "
                         f"{params.n} neurons, recording {rec.names} with {rec.n}")
    models, settings = [None] * rec.n, [None] * rec.n
    fields = []
    for p in params.populations:
        for k in list(p.params) + ["noise_amp", "bias"] + [f"{s}0" for s in p.initial]:
            if k not in fields:
                fields.append(k)
    values = {k: np.full(rec.n, np.nan) for k in fields}
    start = 0
    for p in params.populations:
        stop = start + p.size
        for j in range(start, stop):
            models[j] = type(p.model).__name__
            settings[j] = {f.name: _plain(getattr(p.model, f.name))
                           for f in dataclasses.fields(p.model)}
        arrays = dict(p.params, noise_amp=p.noise_amp, bias=p.bias,
                      **{f"{s}0": x for s, x in p.initial.items()})
        for k, x in arrays.items():
            x = np.asarray(x, dtype=np.float64)
            if x.shape != (p.size,):
                raise ValueError(f"params of population {p.name!r}: {k} has shape {x.shape}, "
                                 f"expected ({p.size},) (one network, not a batch)")
            values[k][start:stop] = x
        start = stop
    return models, settings, values


def _u_units(rec, params):
    """Unit of each recorded ``u`` trace: the current unit of its neuron's model (``u`` enters
    the membrane equation as a current), or None without ``params``."""
    if params is None:
        return [None] * len(np.asarray(rec.u_index))
    unit_of = np.empty(rec.n, dtype=object)
    start = 0
    for p in params.populations:
        unit_of[start:start + p.size] = p.model.current_unit
        start += p.size
    return [unit_of[j] for j in np.asarray(rec.u_index)]


def _groups(units):
    """Channels grouped by unit, in order of first appearance: ``[(unit, [columns])]``."""
    out = {}
    for col, unit in enumerate(units):
        out.setdefault(unit, []).append(col)
    return list(out.items())


def _config_strings(config):
    return {f.name: str(getattr(config, f.name)) for f in dataclasses.fields(config)}


# --- Neo --------------------------------------------------------------------------------------


def to_neo(rec, params=None):
    """The recording as a ``neo.Segment``: one spike train per neuron, the traces as signals.

    Args:
        rec: :class:`izhijax.Recording` of one run, with its raster (``record_spikes=True``).
        params: the :class:`izhijax.Network` that was run (optional): adds each neuron's model and
            parameters to its spike train's annotations and the config to the segment's.

    Returns:
        ``neo.Segment`` with

        - ``spiketrains``: neuron ``i`` in position ``i``, times in ms (float64, exactly
          ``rec.spike_times()``'s), ``t_start = t0 * dt``, ``t_stop = (t0 + T) * dt``; annotations
          ``neuron`` (global index), ``population``, ``index_in_population``, and with ``params``:
          ``model`` (class name), ``model_settings`` (e.g. ``"Izhikevich2003(inclusive=True,
          v_peak=30.0)"``) and every per-neuron value (``a``, ``b``..., ``noise_amp``, ``bias``,
          ``v0``, ``u0``) as floats;
        - ``analogsignals``: ``v`` (mV, one channel per recorded neuron) and ``u`` (the model's
          current unit, one signal per unit if the recorded neurons' models differ;
          dimensionless without ``params``), sampled every ``dt`` from ``t0 * dt``, with the
          neurons in the annotation ``neurons`` and the array annotations ``neuron`` and
          ``population``;
        - annotations: ``dt`` (ms quantity), ``t0``, ``n_steps``, ``n_neurons``, ``populations``,
          ``population_start``, ``population_stop``, ``diverged_at``, ``izhijax_version``, and with
          ``params``: ``config`` (its repr), ``config_<field>`` (each field as a string) and
          ``models`` (each population's model).

        Every annotation is a string, a number, a quantity or a flat list of them, which Neo's IOs
        (NIX, pickle) can write.

    Raises:
        ImportError: neo is not installed (``pip install "izhijax[neo]"``).
        ValueError: no raster was recorded, a batched recording, or ``params`` of another network.
    """
    neo, pq = _import_neo()
    i, t, t0 = _check_recording(rec)
    dt, T, n = float(rec.dt), rec.n_steps, rec.n
    info = _neuron_params(rec, params)
    names, local = _population_of(rec)
    t_start, t_stop = t0 * dt, (t0 + T) * dt

    sampling = dt * pq.ms
    seg = neo.Segment(name="izhijax run", description=(
        f"Izhikevich network simulated by izhijax {_version()}: {n} neurons, {T} steps of "
        f"{dt:g} ms from step {t0}"))
    order = np.argsort(i, kind="stable")          # per neuron, keeping time order
    bounds = np.searchsorted(i[order], np.arange(n + 1))
    for j in range(n):
        times = t[order[bounds[j]:bounds[j + 1]]]
        ann = dict(neuron=j, population=str(names[j]), index_in_population=int(local[j]))
        if info is not None:
            models, settings, values = info
            ann["model"] = models[j]
            ann["model_settings"] = (f"{models[j]}(" + ", ".join(
                f"{k}={v!r}" for k, v in settings[j].items()) + ")")
            ann.update({k if k not in ann else f"param_{k}": float(v[j])
                        for k, v in values.items() if not np.isnan(v[j])})
        st = neo.SpikeTrain(times, units="ms", t_start=t_start * pq.ms, t_stop=t_stop * pq.ms,
                            dtype=np.float64, sampling_rate=1.0 / sampling,
                            name=f"{names[j]}[{local[j]}]")
        st.annotate(**ann)
        seg.spiketrains.append(st)

    def signal(name, data, cols, index, unit, description):
        idx = np.asarray(index)[cols].astype(np.int64)
        sig = neo.AnalogSignal(np.asarray(data, dtype=np.float64)[:, cols],
                               units=unit if unit is not None else pq.dimensionless,
                               sampling_period=sampling, t_start=t_start * pq.ms, name=name,
                               description=description,
                               array_annotations={"neuron": idx,
                                                  "population": np.array(
                                                      [str(names[k]) for k in idx])})
        sig.annotate(neurons=[int(k) for k in idx])
        seg.analogsignals.append(sig)

    v_index = np.asarray(rec.v_index)
    if v_index.size:
        signal("v", rec.v, list(range(v_index.size)), v_index, "mV",
               "membrane potential after each step's update, before the reset (mV)")
    u_units = _u_units(rec, params)
    u_groups = _groups(u_units)
    for unit, cols in u_groups:
        name = "u" if len(u_groups) == 1 else f"u [{unit}]"
        what = (f"recovery variable u ({unit}, the model's current unit)" if unit is not None
                else "recovery variable u (unit: the model's current unit; pass params to "
                     "to_neo to attach it)")
        signal(name, rec.u, cols, rec.u_index, unit, what)

    seg.annotate(dt=dt * pq.ms, t0=t0, n_steps=T, n_neurons=n,
                 populations=[name for name, _, _ in rec.populations],
                 population_start=[int(lo) for _, lo, _ in rec.populations],
                 population_stop=[int(hi) for _, _, hi in rec.populations],
                 diverged_at=-1 if rec.diverged_at is None else int(np.asarray(rec.diverged_at)),
                 izhijax_version=_version(), spike_time="start of the step whose update crossed "
                 "the threshold")
    if params is not None:
        seg.annotate(config=repr(params.config),
                     models=[repr(p.model) for p in params.populations],
                     **{f"config_{k}": v for k, v in _config_strings(params.config).items()})
    return seg


# --- NWB --------------------------------------------------------------------------------------


def _nwb_unit(unit):
    if unit is None:
        return "unknown (the model's current unit)", 1.0
    return _NWB_UNITS.get(unit, (unit, 1.0))


def to_nwb(path, rec, params=None, *, session_description="Izhikevich network simulated by izhijax",
           identifier: Optional[str] = None,
           session_start_time: Optional[datetime.datetime] = None):
    """Write the recording to a Neurodata Without Borders (NWB 2) file with pynwb.

    The file holds:

    - the units table, one unit per neuron (``id`` its global index): ``spike_times`` in seconds
      (``rec.spike_times()`` ms times ``1e-3``), ``obs_intervals`` the recorded span, and the
      columns ``population``, ``index_in_population``; with ``params`` also ``model`` and one
      float column per per-neuron value (``a``, ``b``..., ``noise_amp``, ``bias``, ``v0``,
      ``u0``; NaN where a neuron's model has no such value);
    - acquisition ``v``: a ``TimeSeries`` ``(T, k)`` of the recorded neurons' membrane potential
      as izhijax has it, in mV, stored with NWB's ``unit="volts"``, ``conversion=1e-3``; and
      ``u`` (one ``TimeSeries`` per unit when the models differ), sampled at ``rate = 1000 / dt``
      Hz from ``starting_time = t0 * dt / 1000`` s; which neurons they hold is in their
      ``comments`` (JSON ``{"neurons": [...], "populations": [...]}``);
    - metadata: ``notes`` is JSON with ``izhijax`` (version), ``dt_ms``, ``t0``, ``n_steps``,
      ``populations`` ``[[name, start, stop], ...]``, and with ``params`` the ``config`` (fields
      as strings) and ``models``; ``session_start_time`` (default now, UTC) is the time zero.

    The file is written under a temporary name in the same folder and renamed, so a crash never
    leaves a half-written file under ``path``.

    Args:
        path: the ``.nwb`` file to write (replaced if it exists).
        rec: :class:`izhijax.Recording` of one run, with its raster.
        params: the :class:`izhijax.Network` that was run (optional).
        session_description: NWB's required description of the session.
        identifier: NWB's unique identifier of the file (default a fresh UUID).
        session_start_time: time zero of the file's times (timezone-aware; default now in UTC).

    Returns:
        ``path``.

    Raises:
        ImportError: pynwb is not installed (``pip install "izhijax[nwb]"``).
        ValueError: no raster was recorded, a batched recording, or ``params`` of another network.
    """
    pynwb = _import_pynwb()
    i, t, t0 = _check_recording(rec)
    dt, T, n = float(rec.dt), rec.n_steps, rec.n
    info = _neuron_params(rec, params)
    names, local = _population_of(rec)
    if session_start_time is None:
        session_start_time = datetime.datetime.now(datetime.timezone.utc)
    meta = {"izhijax": _version(), "dt_ms": dt, "t0": t0, "n_steps": T, "n_neurons": n,
            "populations": [[name, int(lo), int(hi)] for name, lo, hi in rec.populations],
            "spike_time": "start of the step whose update crossed the threshold"}
    if params is not None:
        meta["config"] = _config_strings(params.config)
        meta["models"] = [repr(p.model) for p in params.populations]
    sizes = ", ".join(f"{nm}: {hi - lo}" for nm, lo, hi in rec.populations)
    nwb = pynwb.NWBFile(
        session_description=session_description,
        identifier=identifier if identifier is not None else str(uuid.uuid4()),
        session_start_time=session_start_time,
        experiment_description=(f"Simulation of a network of {n} Izhikevich neurons ({sizes}), "
                                f"{T} steps of {dt:g} ms, by izhijax {_version()}"),
        notes=json.dumps(meta), source_script=f"izhijax {_version()}",
        source_script_file_name="izhijax")

    # The units table, built column by column (a row at a time costs seconds for 1000 neurons).
    from hdmf.common import ElementIdentifiers, VectorData, VectorIndex
    from pynwb.misc import Units
    order = np.argsort(i, kind="stable")          # per neuron, keeping time order
    seconds = t[order] * 1e-3
    ends = np.searchsorted(i[order], np.arange(1, n + 1)).astype(np.int64)
    span = [t0 * dt * 1e-3, (t0 + T) * dt * 1e-3]
    spike_times = VectorData(name="spike_times", data=seconds,
                             description="the spike times of each unit in seconds")
    obs = VectorData(name="obs_intervals", data=np.tile(np.asarray(span), (n, 1)),
                     description="the observation interval of each unit: the recorded span")
    columns = [spike_times,
               VectorIndex(name="spike_times_index", data=ends, target=spike_times),
               obs,
               VectorIndex(name="obs_intervals_index", data=np.arange(1, n + 1, dtype=np.int64),
                           target=obs),
               VectorData(name="population", data=[str(x) for x in names],
                          description="name of the neuron's population"),
               VectorData(name="index_in_population", data=local.astype(np.int64),
                          description="index of the neuron within its population")]
    if info is not None:
        models, _, values = info
        columns.append(VectorData(name="model", data=list(models),
                                  description="class of the neuron's izhijax model"))
        taken = {c.name for c in columns} | {"id", "electrodes", "electrode_group",
                                             "waveform_mean", "waveform_sd", "waveforms"}
        columns += [VectorData(name=k if k not in taken else f"param_{k}", data=v, description=(
            f"per-neuron value {k!r} of the neuron's model in izhijax's units (NaN where the "
            f"model has no {k!r})")) for k, v in values.items()]
    nwb.units = Units(name="units", id=ElementIdentifiers(name="id", data=np.arange(n)),
                      columns=columns, resolution=dt * 1e-3,
                      description=f"the {n} neurons of the network, id = izhijax's global index")

    rate, start_s = 1000.0 / dt, t0 * dt * 1e-3

    def series(name, data, cols, index, unit, description):
        idx = np.asarray(index)[cols].astype(np.int64)
        si, conversion = _nwb_unit(unit)
        nwb.add_acquisition(pynwb.TimeSeries(
            name=name, data=np.asarray(data)[:, cols], unit=si, conversion=conversion,
            starting_time=start_s, rate=rate, description=description,
            comments=json.dumps({"neurons": idx.tolist(),
                                 "populations": [str(names[k]) for k in idx]})))

    v_index = np.asarray(rec.v_index)
    if v_index.size:
        series("v", rec.v, list(range(v_index.size)), v_index, "mV",
               "membrane potential after each step's update, before the reset; stored in mV "
               "(conversion 1e-3 to volts)")
    u_groups = _groups(_u_units(rec, params))
    for unit, cols in u_groups:
        name = "u" if len(u_groups) == 1 else f"u_{unit}".replace("/", "_per_")
        series(name, rec.u, cols, rec.u_index, unit,
               f"recovery variable u, stored in the model's current unit ({unit or 'unknown'})")

    _write_atomic(path, nwb, pynwb)
    return path


def _write_atomic(path, nwb, pynwb):
    """Write the NWB file whole or not at all (:func:`izhijax._src.io._write_atomic`)."""
    from .io import _write_atomic as write_atomic

    def write(tmp):
        with pynwb.NWBHDF5IO(tmp, mode="w") as io:
            io.write(nwb)

    write_atomic(os.fspath(path), write, suffix=".tmp.nwb", by_name=True)  # pynwb warns on others


@dataclasses.dataclass(frozen=True)
class NWBSpikes:
    """What :func:`from_nwb` read: the units table's spike trains and izhijax's metadata.

    Attributes:
        neuron: unit ids (izhijax's global neuron indices), shape ``(n,)``.
        times: spike times of each unit in seconds, as stored, a tuple of ``n`` arrays.
        population: each unit's population name (``None`` if the file has no such column).
        meta: the izhijax metadata of the file (``dt_ms``, ``t0``, ``n_steps``,
            ``populations``...; empty for a file izhijax did not write).
        v: the ``v`` acquisition in mV, ``(T, k)``, or None; ``v_index`` its neurons.
    """

    neuron: np.ndarray
    times: tuple
    population: Optional[tuple]
    meta: dict
    v: Optional[np.ndarray] = None
    v_index: Optional[np.ndarray] = None

    def spike_times(self):
        """``(i, t)`` in ms sorted by time then neuron, as :meth:`izhijax.Recording.spike_times`.

        For a file izhijax wrote, ``t`` is ``(t0 + step) * dt`` recomputed from the steps, so it
        equals the recording's bit for bit; otherwise ``seconds * 1e3``.
        """
        i = np.concatenate([np.full(len(x), k, np.int64) for k, x in zip(self.neuron, self.times)]
                           + [np.zeros(0, np.int64)])
        s = np.concatenate([np.asarray(x, np.float64) for x in self.times] + [np.zeros(0)])
        t = s * 1e3
        dt = self.meta.get("dt_ms")
        if dt is not None and s.size:
            step = np.rint(s * 1e3 / dt).astype(np.int64)
            on_grid = step * float(dt)
            if np.array_equal(on_grid * 1e-3, s):
                t = on_grid
        order = np.lexsort((i, t))
        return i[order], t[order]


def from_nwb(path):
    """Read the spike trains (and ``v``) of an NWB file's units table back.

    Args:
        path: an NWB file (written by :func:`to_nwb`, or any NWB file with a units table).

    Returns:
        :class:`NWBSpikes`.

    Raises:
        ImportError: pynwb is not installed (``pip install "izhijax[nwb]"``).
        ValueError: the file has no units table.
    """
    pynwb = _import_pynwb()
    with pynwb.NWBHDF5IO(os.fspath(path), mode="r") as io:
        nwb = io.read()
        units = nwb.units
        if units is None:
            raise ValueError(f"{path} has no units table (no spike trains)")
        ids = np.asarray(units.id[:], dtype=np.int64)
        flat = np.asarray(units["spike_times"].target.data[:], dtype=np.float64)
        ends = np.asarray(units["spike_times"].data[:], dtype=np.int64)
        starts = np.concatenate([[0], ends[:-1]])
        times = tuple(flat[a:b] for a, b in zip(starts, ends))
        population = None
        if "population" in units.colnames:
            population = tuple(x.decode() if isinstance(x, bytes) else str(x)
                               for x in units["population"].data[:])
        try:
            meta = json.loads(nwb.notes) if nwb.notes else {}
            meta = meta if isinstance(meta, dict) and "izhijax" in meta else {}
        except ValueError:
            meta = {}
        v = v_index = None
        if "v" in nwb.acquisition:
            ts = nwb.acquisition["v"]
            v = np.asarray(ts.data[:], dtype=np.float64) * (ts.conversion / 1e-3
                                                             if ts.unit == "volts" else 1.0)
            with contextlib.suppress(ValueError, TypeError, KeyError):
                v_index = np.asarray(json.loads(ts.comments)["neurons"], dtype=np.int64)
    return NWBSpikes(neuron=ids, times=times, population=population, meta=meta, v=v,
                     v_index=v_index)
