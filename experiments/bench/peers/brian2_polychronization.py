"""Brian2 peer of the Izhikevich (2006) polychronization network, for the speed benchmark.

The model is ``poly_spnet.cpp`` (``shared/anchors/polychronization``) as izhijax runs it
(``izj.polychronization2006`` + ``izj.plasticity.Izhikevich2006``), written in Brian2 2.9 and run
with ``cpp_standalone``, float64, ``defaultclock.dt = 1 ms``. Its own wiring and input (NumPy
``default_rng(seed)``), so it is the same model with the same statistics, not the same spikes.

Environment (apart from the project's; Brian2 2.9 breaks with numpy>=2.3)::

    python3 -m venv .venv-brian
    .venv-brian/bin/pip install "brian2==2.9.0" "numpy<2.3" cython

Usage, from the repository root (a C++ compiler is needed)::

    .venv-brian/bin/python experiments/bench/peers/brian2_polychronization.py \\
        [--seconds 10 60] [--threads 1 2] [--seed 0] [--build-dir DIR] [--no-rates]

One JSON line per (seconds, threads) pair on stdout, each from its own process (fresh device,
own build folder, default a new temporary one): ``seconds``, ``threads`` (the value of
``prefs.devices.cpp_standalone.openmp_threads``; 0 = Brian2's default, no OpenMP), ``run_s``
(Brian2's own timer of the network run inside the binary: the loop over the steps only),
``s_per_sim_s`` (= ``run_s / seconds``), ``binary_s`` (wall time of the binary: run plus loading
the initial arrays and writing the results), ``build_s`` (code generation and compilation),
``spikes``, ``exc_hz`` / ``inh_hz`` (lists, per simulated second, with the original's labels) and
``strong_percent`` (% of exc->exc weights above 0.9 C_max at the end, the original's ``str``:
after ``seconds - 1`` consolidations).

Check run: ``--spnet tests/data/poly_spnet_10s.npz`` (``--seconds`` <= 10) takes the wiring,
delays, initial state and stimulus of a run of the original program and compares the spikes with
its own (``spnet`` in the JSON line): identical, all 48,607 spikes of the 10 s, with 0 and 1
threads (measured 2026-12-02).

The model, one 1 ms step ``t`` (the program's iteration ``t``, spikes labelled as it does: the
step that sees ``v >= 30``, one after the update that crossed; the schedule slots put Brian2's
operations in the program's order):

- ``start``: ``I = 20`` for the neuron of the step, 0 for the others (the original resets ``I``
  every ms; a ``TimedArray`` of neuron indices drawn with NumPy, one per ms).
- ``thresholds``: ``v >= 30`` fires; the reset (moved from ``resets`` to ``thresholds``, order 1,
  so it comes before the synapses as in the program): ``v = -65; u += d; LTD = 0.12``.
- ``synapses``: first the post pathway (order -2): every excitatory synapse onto a neuron that
  fired gets ``sd += apre``; then the pre pathways (order -1): arrivals add their weight to ``I``,
  through an excitatory synapse also ``sd -= LTD_post`` and ``apre = 0.1 / 0.95``.
- ``end`` (``run_regularly``, explicit code, the program's arithmetic): ``v += 0.5*((0.04*v +
  5)*v + 140 - u + I)`` twice, ``u += a*(0.2*v - u)``, ``LTD *= 0.95``.
- every second, ``start`` slot (after the last step of the second, before the next): ``sd *=
  0.9; w = clip(w + 0.01 + sd, 0, 10)`` on the excitatory synapses (not at t = 0).

Delays: a spike labelled ``t`` reaches through a synapse of delay ``δ`` (1..20 ms) the update of
step ``t + δ - 1`` (the program's ``delays[n][t - t_fired]`` holds the ``δ = t - t_fired + 1``
synapses), so the Brian2 ``delay`` is ``δ - 1`` (0..19 ms excitatory, 0 ms inhibitory): from the
update that crossed to the update that receives it is ``δ`` steps, as in the program and izhijax.
LTP: at a post spike of step ``t`` the program adds the source's trace of step ``t - δ``, that is
``0.1 x 0.95^(t - 1 - t_a)`` for the last arrival ``t_a < t`` through that synapse (an arrival in
the same step does not count, that step's LTD does). The per-synapse event-driven ``apre``
(``tau = -1 ms / ln 0.95``, ``x 0.95`` per ms), set to ``0.1 / 0.95`` at an arrival and read before
the arrivals of the step, is exactly that.

Synapses: one ``Synapses`` for the 80,000 excitatory ones (plastic, to any neuron, synapse ``j``
of a neuron has ``δ = j // 5 + 1``) and one for the 20,000 inhibitory ones (fixed -5, to
excitatory neurons, ``δ = 1``); 100 distinct targets per neuron, no self-connection. Initial
``v = -65 + 10 U(0, 1)``, ``u = 0.2 v``, weights +6 / -5, ``sd = 0``.

Differences from the original program: own random wiring, initial state and stimulus (NumPy;
unless ``--spnet``); the trace decay is ``exp(-Δt/tau)`` (Brian2's event-driven solution) instead
of repeated ``x 0.95``; Brian2's default compiler flags include ``-ffast-math`` and its code
generation goes through SymPy (``v += 0.5*((140 + ((5 + 0.04*v)*v + I)) - u)``), so the
floating-point arithmetic may differ in the last bits (same formulas; spike for spike identical
over the 10 s check all the same); spikes are recorded by a ``SpikeMonitor`` (``i``, ``t``), where
izhijax's ``izj.polychronization.run`` keeps per-step population counts only.

Measured 2026-12-02 on the project's 2-core AMD EPYC VM (Python 3.11.7, brian2 2.9.0, numpy
2.2.6, g++ with Brian2's default flags), seed 0. Rough: other jobs kept both cores busy (load
average 4-19), the lead's bench in a quiet window has the real numbers::

    .venv-brian/bin/python experiments/bench/peers/brian2_polychronization.py \\
        --seconds 10 60 --threads 0 1 2 --build-dir /tmp/bp

    run_s per simulated second (best of 3-4 reruns of the built binary):
      threads 0 (no OpenMP)  10 s: 0.010-0.016   60 s: 0.012-0.015
      threads 1              10 s: 0.029         60 s: 0.029
      threads 2              10 s: 0.27-3.0 under that load (OpenMP threads waiting for each
                             other on an oversubscribed 2-core machine): not measurable there
    build_s (code generation + compile): 60-100 s under load (35 s less loaded); a rerun with
    the same --build-dir and settings but another seed recompiles little (1-10 s)

Rates (Hz, per second, original's labels), first 10 s:

    this script, seed 0   exc 4.76 4.55 4.10 4.10 2.88 2.59 2.30 1.73 1.44 1.45
                          inh 16.8 16.1 15.7 16.5 11.1 10.4 8.80 6.21 4.68 4.91
    izhijax, key 0 (x64)  exc 4.55 4.58 4.05 4.30 4.10 2.96 2.90 2.02 1.41 1.44
                          inh 16.6 17.1 15.4 16.4 18.0 12.5 12.8 8.27 4.83 5.05
    original (srand 0)    exc 4.69 4.65 4.35 4.08 3.92 2.46 2.72 1.38 1.49 1.44
                          inh 16.6 17.0 16.3 16.2 16.7 9.56 11.5 4.42 5.20 4.98

(seeds 1 and 2 of this script: second 0 exc 4.75 / 4.41, inh 16.7 / 16.0; second 9 exc 1.28 /
1.38, inh 4.3 / 4.8.)

Second 59 (exc Hz, inh Hz, % exc->exc weights > 9): this script 4.22, 31.2, 22.4; izhijax
4.28, 32.6, 24.4; original 4.68, 35.4, 23.8. The activity is not stationary (rates fall to about
1.5 / 5 Hz around 8-15 s and climb back), so 10 s and 60 s runs cost differently per second.
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

N_EXC, N_INH, M, D = 800, 200, 100, 20
N = N_EXC + N_INH


def wiring(rng):
    """``post`` (N, M): 100 distinct targets per neuron, exc -> any other, inh -> exc only."""
    post = np.empty((N, M), np.int64)
    for i in range(N_EXC):
        others = np.delete(np.arange(N), i)
        post[i] = rng.choice(others, M, replace=False)
    for i in range(N_EXC, N):
        post[i] = rng.choice(N_EXC, M, replace=False)
    return post


def build(seconds, seed, dump=None):
    """The network objects (the device must be set before). Returns (net, spike monitor, exc
    synapses). ``dump``: take wiring, delays, initial state and stimulus from a run of the
    original program (``tests/data/poly_spnet_10s.npz``) instead of drawing them."""
    import brian2 as b2
    from brian2 import ms, second

    n_steps = int(round(seconds * 1000))
    if dump is None:
        rng = np.random.default_rng(seed)
        post = wiring(rng)
        v0 = -65.0 + 10.0 * rng.random(N)
        u0 = 0.2 * v0
        stim = rng.integers(0, N, n_steps)          # the neuron given I = 20 in each ms
        delay = np.tile(np.arange(M) // (M // D) + 1, (N, 1))
    else:
        post, delay = np.asarray(dump["post"], np.int64), np.asarray(dump["delay"], np.int64)
        v0, u0 = np.asarray(dump["v0"]), np.asarray(dump["u0"])
        stim = np.asarray(dump["stim"], np.int64)
        if stim.size < n_steps:
            raise ValueError(f"the dump has {stim.size} ms of stimulus, {n_steps} asked")
        stim = stim[:n_steps]

    b2.defaultclock.dt = 1 * ms
    stim_ta = b2.TimedArray(stim.astype(np.float64), dt=1 * ms, name="stim_ta")
    G = b2.NeuronGroup(
        N, """v : 1
              u : 1
              I : 1
              LTD : 1
              a : 1 (constant)
              d : 1 (constant)""",
        threshold="v >= 30", reset="v = -65\nu += d\nLTD = 0.12",
        namespace={"stim_ta": stim_ta}, name="neurons")
    G.resetter["spike"].when = "thresholds"   # reset (and LTD = 0.12) before the arrivals
    G.resetter["spike"].order = 1
    G.a = np.where(np.arange(N) < N_EXC, 0.02, 0.1)
    G.d = np.where(np.arange(N) < N_EXC, 8.0, 2.0)
    G.v = v0
    G.u = u0
    G.I = 0.0
    G.LTD = 0.0
    # the input of the step: I is cleared every ms, one neuron gets 20
    G.run_regularly("I = 20.0*int(abs(i - stim_ta(t)) < 0.5)", when="start", name="stimulus")
    # the program's update: two half steps of v with u fixed, then u; the LTD trace decays
    G.run_regularly("""v += 0.5*((0.04*v + 5)*v + 140 - u + I)
                       v += 0.5*((0.04*v + 5)*v + 140 - u + I)
                       u += a*(0.2*v - u)
                       LTD *= 0.95""", when="end", name="update")

    tau = -1 * ms / math.log(0.95)   # exp(-1 ms / tau) = 0.95
    # A spike the program labels t (the step after the crossing update) reaches, through a synapse
    # of delay δ, the update of step t + δ - 1: in Brian2 (arrivals in the synapses slot, before
    # the update in the end slot of the same step) that is a delay of δ - 1 ms.
    # The LTP read at a post spike of step t is the source's trace of step t - δ: arrivals of steps
    # < t, decayed to one step before t. Here: the post pathway runs before the pre pathways (so
    # an arrival of step t does not count) and an arrival sets apre = 0.1 / 0.95.
    S_exc = b2.Synapses(
        G, G, """w : 1
                 sd : 1
                 dapre/dt = -apre/tau : 1 (event-driven)""",
        on_pre="""I_post += w
                  sd -= LTD_post
                  apre = 0.1/0.95""",
        on_post="sd += apre", namespace={"tau": tau}, name="exc_syn")
    S_exc.post.order = -2
    S_exc.connect(i=np.repeat(np.arange(N_EXC), M), j=post[:N_EXC].ravel())
    S_exc.w = 6.0
    S_exc.sd = 0.0
    S_exc.delay = (delay[:N_EXC].ravel() - 1) * ms
    S_exc.run_regularly("""sd *= 0.9
                           w = clip(w + int(t > 0.5*ms)*(0.01 + sd), 0, 10)""",
                        dt=1 * second, when="start", name="consolidation")

    S_inh = b2.Synapses(G, G, "w : 1 (constant)", on_pre="I_post += w", delay=0 * ms,
                        name="inh_syn")
    S_inh.connect(i=np.repeat(np.arange(N_EXC, N), M), j=post[N_EXC:].ravel())
    S_inh.w = -5.0

    mon = b2.SpikeMonitor(G, name="spikes")
    net = b2.Network(G, S_exc, S_inh, mon)
    return net, mon, S_exc


def run_one(seconds, threads, seed, directory, rates=True, spnet=None):
    import brian2 as b2
    from brian2 import second

    t0 = time.perf_counter()
    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = threads
    dump = None if spnet is None else np.load(spnet)
    net, mon, S_exc = build(seconds, seed, dump)
    net.run(seconds * second, report=None)
    t1 = time.perf_counter()
    b2.device.build(directory=directory, compile=True, run=False)
    t2 = time.perf_counter()
    b2.device.run(directory=directory, with_output=False)
    t3 = time.perf_counter()
    run_s = float(b2.device._last_run_time)
    out = dict(seconds=seconds, threads=threads, seed=seed, run_s=run_s,
               s_per_sim_s=run_s / seconds, binary_s=t3 - t2, build_s=t2 - t0)
    i = np.asarray(mon.i[:])
    step = np.rint(np.asarray(mon.t[:] / b2.ms)).astype(np.int64)
    out["spikes"] = int(i.size)
    if rates:
        sec = step // 1000
        exc = np.bincount(sec[i < N_EXC], minlength=seconds) / N_EXC
        inh = np.bincount(sec[i >= N_EXC], minlength=seconds) / N_INH
        out["exc_hz"] = [round(float(x), 4) for x in exc]
        out["inh_hz"] = [round(float(x), 4) for x in inh]
        w = np.asarray(S_exc.w[:])
        j = np.asarray(S_exc.j[:])
        out["strong_percent"] = float(100.0 * np.sum((w > 9.0) & (j < N_EXC)) / N_EXC / M)
    if dump is not None:   # spike for spike against the original program
        ref_t, ref_i = np.asarray(dump["spike_t"], np.int64), np.asarray(dump["spike_i"], np.int64)
        keep = ref_t < seconds * 1000
        ref = np.lexsort((ref_i[keep], ref_t[keep]))
        ref = np.stack([ref_t[keep][ref], ref_i[keep][ref]], 1)
        order = np.lexsort((i, step))
        got = np.stack([step[order], i[order]], 1)
        n = min(len(ref), len(got))
        bad = np.nonzero(np.any(ref[:n] != got[:n], axis=1))[0]
        if bad.size:
            first_ms = int(min(ref[bad[0], 0], got[bad[0], 0]))
        elif len(ref) != len(got):   # one is a prefix of the other
            first_ms = int((ref if len(ref) > n else got)[n, 0])
        else:
            first_ms = None
        out["spnet"] = dict(ref_spikes=int(len(ref)), identical=first_ms is None,
                            first_mismatch_ms=first_ms)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["version"] = b2.__version__
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, nargs="+", default=[10, 60])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="openmp_threads values (0: no OpenMP, Brian2's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--build-dir", default=None,
                   help="build folder (one per config below it; default a temporary one)")
    p.add_argument("--no-rates", action="store_true", help="leave the per-second rates out")
    p.add_argument("--spnet", default=None,
                   help="check run: wiring, initial state and stimulus of the original program "
                        "from this dump (tests/data/poly_spnet_10s.npz, seconds <= 10), and "
                        "compare the spikes with its own")
    args = p.parse_args()
    configs = [(s, k) for k in args.threads for s in args.seconds]
    if len(configs) == 1:
        s, k = configs[0]
        d = (os.path.join(args.build_dir, f"s{s}_t{k}") if args.build_dir
             else tempfile.mkdtemp(prefix="bench_brian_poly_"))
        print(json.dumps(run_one(s, k, args.seed, d, rates=not args.no_rates, spnet=args.spnet)),
              flush=True)
        return
    for s, k in configs:   # a fresh process (and device) per config
        cmd = [sys.executable, os.path.abspath(__file__), "--seconds", str(s), "--threads",
               str(k), "--seed", str(args.seed)]
        if args.build_dir:
            cmd += ["--build-dir", args.build_dir]
        if args.no_rates:
            cmd.append("--no-rates")
        if args.spnet:
            cmd += ["--spnet", args.spnet]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
