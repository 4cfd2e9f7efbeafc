"""Public namespace ``izhijax.traces``: fitting single neurons to recordings (a voltage trace or
spike times under an injected current), implemented in :mod:`izhijax._src.traces`.

    trace = izj.traces.load_trace("cell.csv")              # time, current, voltage
    result = izj.traces.fit_trace(trace, loss="voltage")   # a, b, c, d (multiple shooting)
    result = izj.traces.fit_trace(trace, method="cmaes")   # CMA-ES (pip install "izhijax[cma]")
    result.params, result.gamma                            # fitted values, coincidence factor
"""

from ._src.traces import (  # noqa: F401
    Trace,
    TraceFit,
    PARAMETERS,
    TONIC_PRESETS,
    LOSS_KINDS,
    FIT_METHODS,
    CMAES_POPSIZE,
    CMAES_SIGMA0,
    MIN_SAMPLES,
    DEFAULT_N_ITERS,
    V_REST0,
    FORCED_LEVEL,
    SHOOTING_HORIZON,
    check_trace,
    load_trace,
    save_trace,
    detect_spikes,
    spike_train,
    spike_window,
    van_rossum_distance,
    van_rossum_numpy,
    spike_loss,
    voltage_loss,
    combined_loss,
    coincidence_factor,
    fit_trace,
    simulate_trace,
    synthetic_trace,
    ou_current,
    default_optimizer,
)

__all__ = [
    "Trace", "TraceFit", "PARAMETERS", "TONIC_PRESETS", "LOSS_KINDS", "FIT_METHODS",
    "CMAES_POPSIZE", "CMAES_SIGMA0", "MIN_SAMPLES", "V_REST0",
    "FORCED_LEVEL", "SHOOTING_HORIZON", "DEFAULT_N_ITERS", "check_trace", "load_trace",
    "save_trace", "detect_spikes", "spike_train",
    "spike_window", "van_rossum_distance", "van_rossum_numpy", "spike_loss", "voltage_loss",
    "combined_loss", "coincidence_factor", "fit_trace", "simulate_trace", "synthetic_trace",
    "ou_current", "default_optimizer",
]
