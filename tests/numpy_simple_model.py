"""A plain-Python/NumPy transcription of the simple model's MATLAB loop, Izhikevich (2007), ch. 8.

Izhikevich, *Dynamical Systems in Neuroscience* (MIT Press, 2007), chapter 8; the model
(eqs. 8.5-8.6)::

    C v' = k (v - vr)(v - vt) - u + I          (pF, nS/mV, mV, pA; time in ms)
    u'   = a (U(v) - u)                        U(v) = b (v - vr) for most cell types
    if v >= v_peak:  v <- c,  u <- u + d

The book prints this program (p. 287 of the book, output in Fig. 8.6; the RS neuron)::

    C=100; vr=-60; vt=-40; k=0.7;     % parameters used for RS
    a=0.03; b=-2; c=-50; d=100;       % neocortical pyramidal neurons
    vpeak=35;                         % spike cutoff
    T=1000; tau=1;                    % time span and step (ms)
    n=round(T/tau);                   % number of simulation steps
    v=vr*ones(1,n); u=0*v;            % initial values
    I=[zeros(1,0.1*n),70*ones(1,0.9*n)]; % pulse of input DC current
    for i=1:n-1                       % forward Euler method
        v(i+1)=v(i)+tau*(k*(v(i)-vr)*(v(i)-vt)-u(i)+I(i))/C;
        u(i+1)=u(i)+tau*a*(b*(v(i)-vr)-u(i));
        if v(i+1)>=vpeak              % a spike is fired!
            v(i)=vpeak;               % padding the spike amplitude
            v(i+1)=c;                 % membrane voltage reset
            u(i+1)=u(i+1)+d;          % recovery variable update
        end;
    end;

(the lines from ``v=vr*ones(1,n)`` on as they stand on the book's p. 287 in a stored page scan,
yumpu.com document 49596041 page 297; the lines above it were not in that scan: they are the RS
values every source below agrees on, and the template a public MATLAB adaptation of this program
(iyad-obeid/DBS-Simulation-Rubin-Terman, GPe/GPE_fig4_C.m) still has). So: both ``v`` and ``u``
step from the OLD values (``u`` uses ``v(i)``, not ``v(i+1)``); the peak test is ``>=``;
``v(i)=vpeak`` only pads the plotted spike and changes nothing downstream.

One deliberate difference in rounding: :func:`simulate_numpy` computes ``v + tau*((...)/C)`` and
``u + tau*(a*(...))`` (the vector-field form ``x + dt f``) where MATLAB evaluates ``(tau*(...))/C``
and ``(tau*a)*(...)``. The two differ by an ulp per step, and in sensitive stretches (FS at
400 pA) that moves spikes, so the comparison with a JAX loop over the class's vector field is only
exact with the same association.

The other cell types are the same loop with the book's per-type rules, which the book gives in the
figure captions and text, not as separate programs. Where a rule depends on ``u`` (LTS and TC
peak and reset) this transcription uses ``u(i+1)`` after the Euler step and before the ``+ d``,
i.e. the state at the moment of the spike: that is how the MATLAB loop above reads once ``vpeak``
and ``c`` become expressions in ``u``, and how ModelDB 39948's NEURON port (izhi2007b.mod,
Lytton & Dura-Bernal, "parameters taken from figures of Izhikevich, 2007 book") does it:
``WATCH (v > vpeak - 0.1*u)`` then ``v = c + 0.04*u`` and only then ``u = min(u + d, 670)``.
The book's exact LTS/TC code is NOT printed in the book (to our knowledge), so this ordering is
the natural reading, not a transcription.

Values and sources (units: C pF, k nS/mV, v* mV, a 1/ms, b nS, d pA):

==== ===== ==== ==== ==== ============ ====== ============================ ============ ==== ======
type  C     k    vr   vt  v_peak        a      U(v)                          c            d    u cap
==== ===== ==== ==== ==== ============ ====== ============================ ============ ==== ======
RS    100  0.7  -60  -40  35           0.03   -2 (v - vr)                   -50          100
IB    150  1.2  -75  -45  50           0.01    5 (v - vr)                   -56          130
CH     50  1.5  -60  -40  25           0.03    1 (v - vr)                   -40          150
LTS   100  1.0  -56  -42  40 - 0.1 u   0.03    8 (v - vr)                   -53 + 0.04 u  20   670
FS     20  1.0  -55  -40  25           0.2    0 if v < vb else              -45            0
                                               0.025 (v - vb)^3, vb = -55
TC    200  1.6  -60  -50  35 + 0.1 u   0.01   b (v - vr), b = 15 if v < -65 -60 - 0.1 u   10
                                               else 0
RTN    40  0.25 -65  -45   0           0.015  b (v - vr), b = 10 if v < -65 -55           50
                                               else 2
MSN    50  1.0  -80  -25  40           0.01  -20 (v - vr)                   -55          150
==== ===== ==== ==== ==== ============ ====== ============================ ============ ==== ======

Sources:

* RS: the book's program above (book p. 287; figs. 8.6, 8.12); ModelDB 39948
  (github.com/ModelDBRepository/39948, izhi2007Wrapper.py and izhi2007b.mod, which labels the
  types by the book's figures: RS 8.12, IB 8.19, CH 8.23, LTS 8.25, FS 8.27, TC 8.31, RTN 8.32);
  CompNeuroPy/ANNarchy ``Izhikevich2007`` has the same equations.
* IB, CH, LTS, FS, TC, RTN: ModelDB 39948 (``type2007`` table, C there in units of 100 pF:
  1.0/1.5/0.5/1.0/0.2/2.0/0.4), the reset and U(v) rules from izhi2007b.mod. FS there stores
  vb = -55 in the ``d`` slot (``d = -55``) and its reset leaves ``u`` alone, i.e. the book's
  d = 0; its ``b = -2`` is unused (the FS branch computes U(v) itself). The FS cubic nullcline
  (0.025 (v - vb)^3, vb = -55; book p. 299 per a code comment in a public C++ port, and the
  ANNarchy "IzhikevichStrFSINeuron" in a public basal-ganglia model uses the same form) agrees.
* TC: b switches at -65 mV: ModelDB's ``WATCH (v > -65) -> b = 0``, ``WATCH (v < -65) -> b = 15``
  (the brief's "b = 15 below -65 mV else 0" is confirmed). At v == -65 exactly the sources do not
  say; here "below" is strict (v < -65 -> 15).
* MSN (neostriatal medium spiny neuron, book section 8.4): one independent public repository
  (andrewtran1995/automaticity-model, classes/MSN.m) with the same numbers as we recall from the
  book; figure number not confirmed. RTN from ModelDB only.

Disagreements: none in the values between the sources found. The figure numbers quoted in the
brief (IB 8.15, CH 8.19, LTS 8.28-8.29) differ from ModelDB's (IB 8.19, CH 8.23, LTS 8.25);
the stored page scans we could read do not settle it.

Protocols (:data:`PROTOCOLS`): the step amplitudes are those ModelDB's izhi2007Figs.py uses to
"reproduce figs from Izhikevich, 2007 (book)" (RS 60/70/85/100 pA, IB 290/370/500/550 pA,
CH 200/300/400/600 pA, LTS 100/125/200/300 pA, FS 73.2/100/200/400 pA, TC tonic 50/100/150 pA,
TC burst: held at -1200 pA for 120 ms then stepped; RTN 50/70/110 pA, burst after -350 pA), a
subset of them here, plus the book's own RS program (70 pA at t >= 100 ms, tau = 1 ms) and an
LTS rebound protocol (hyperpolarizing pulse).
"""

import numpy as np

# Generalised parameters (the names of izhijax._src.simple2007.Izhikevich2007): the book's rules
# written as  U(v) = (b + db_below [v < vb]) (v - vr) + b_cubic max(v - vb, 0)^3,
# v_peak(u) = vpeak + vpeak_u u,  reset  v <- c + c_u u,  u <- min(u + d, u_max).
_NO_CAP = 1e30  # u_max "off": izhijax's validation refuses infinities, so a large finite cap
_LINEAR = dict(vpeak_u=0.0, c_u=0.0, u_max=_NO_CAP, db_below=0.0, b_cubic=0.0)

PRESETS = {
    "RS": dict(C=100.0, k=0.7, vr=-60.0, vt=-40.0, vpeak=35.0, a=0.03, b=-2.0, c=-50.0,
               d=100.0, vb=-60.0, **_LINEAR),
    "IB": dict(C=150.0, k=1.2, vr=-75.0, vt=-45.0, vpeak=50.0, a=0.01, b=5.0, c=-56.0,
               d=130.0, vb=-75.0, **_LINEAR),
    "CH": dict(C=50.0, k=1.5, vr=-60.0, vt=-40.0, vpeak=25.0, a=0.03, b=1.0, c=-40.0,
               d=150.0, vb=-60.0, **_LINEAR),
    "LTS": dict(C=100.0, k=1.0, vr=-56.0, vt=-42.0, vpeak=40.0, a=0.03, b=8.0, c=-53.0,
                d=20.0, vb=-56.0, vpeak_u=-0.1, c_u=0.04, u_max=670.0, db_below=0.0,
                b_cubic=0.0),
    "FS": dict(C=20.0, k=1.0, vr=-55.0, vt=-40.0, vpeak=25.0, a=0.2, b=0.0, c=-45.0, d=0.0,
               vb=-55.0, vpeak_u=0.0, c_u=0.0, u_max=_NO_CAP, db_below=0.0, b_cubic=0.025),
    "TC": dict(C=200.0, k=1.6, vr=-60.0, vt=-50.0, vpeak=35.0, a=0.01, b=0.0, c=-60.0,
               d=10.0, vb=-65.0, vpeak_u=0.1, c_u=-0.1, u_max=_NO_CAP, db_below=15.0,
               b_cubic=0.0),
    "RTN": dict(C=40.0, k=0.25, vr=-65.0, vt=-45.0, vpeak=0.0, a=0.015, b=2.0, c=-55.0,
                d=50.0, vb=-65.0, vpeak_u=0.0, c_u=0.0, u_max=_NO_CAP, db_below=8.0,
                b_cubic=0.0),
    "MSN": dict(C=50.0, k=1.0, vr=-80.0, vt=-25.0, vpeak=40.0, a=0.01, b=-20.0, c=-55.0,
                d=150.0, vb=-80.0, **_LINEAR),
}
"""Book cell types -> generalised parameters (see the module docstring for sources)."""


# The book's rules, literally, one per cell type: U(v), v_peak(u), reset (v, u) -> (v, u).
# Independent of the generalised parameters above; tests check that the two agree.
def _lin(b, vr):
    return lambda v: b * (v - vr)


BOOK_RULES = {
    "RS": (_lin(-2.0, -60.0), lambda u: 35.0, lambda v, u: (-50.0, u + 100.0)),
    "IB": (_lin(5.0, -75.0), lambda u: 50.0, lambda v, u: (-56.0, u + 130.0)),
    "CH": (_lin(1.0, -60.0), lambda u: 25.0, lambda v, u: (-40.0, u + 150.0)),
    "LTS": (_lin(8.0, -56.0), lambda u: 40.0 - 0.1 * u,
            lambda v, u: (-53.0 + 0.04 * u, min(u + 20.0, 670.0))),
    "FS": (lambda v: 0.0 if v < -55.0 else 0.025 * (v + 55.0) * (v + 55.0) * (v + 55.0),
           lambda u: 25.0,
           lambda v, u: (-45.0, u)),
    "TC": (lambda v: (15.0 if v < -65.0 else 0.0) * (v + 60.0), lambda u: 35.0 + 0.1 * u,
           lambda v, u: (-60.0 - 0.1 * u, u + 10.0)),
    "RTN": (lambda v: (10.0 if v < -65.0 else 2.0) * (v + 65.0), lambda u: 0.0,
            lambda v, u: (-55.0, u + 50.0)),
    "MSN": (_lin(-20.0, -80.0), lambda u: 40.0, lambda v, u: (-55.0, u + 150.0)),
}
"""name -> (U(v), v_peak(u), reset(v, u) -> (v, u)) as the book states them, scalar Python."""


def U_of(p, v):
    """The generalised nullcline U(v) of parameters ``p``, scalar Python (branches, not where)."""
    slope = p["b"] + (p["db_below"] if v < p["vb"] else 0.0)
    x = v - p["vb"] if v >= p["vb"] else 0.0
    return slope * (v - p["vr"]) + p["b_cubic"] * x * x * x


def simulate_numpy(preset_params, current, dt, v0=None, u0=None):
    """Run one neuron with the book's forward-Euler loop, float64, Python scalars.

    Args:
        preset_params: a dict as in :data:`PRESETS` (any missing key of the linear model's
            extensions defaults to "off": vpeak_u = c_u = db_below = b_cubic = 0, u_max = 1e30).
        current: 1-D array, pA; ``current[i]`` is ``I(i)``, held over step ``i``.
        dt: the step ``tau`` in ms.
        v0, u0: initial state; default ``v0 = vr`` and ``u0 = U(v0)`` (the book's ``u = 0`` at
            ``v = vr``).

    Returns:
        ``(v, u, spikes)``, each of length ``len(current)``: entry ``i`` is the state after step
        ``i`` (time ``(i + 1) dt``) BEFORE the reset, and whether step ``i`` fired.
    """
    p = dict(_LINEAR, vb=preset_params.get("vr", 0.0))
    p.update(preset_params)
    C, k, vr, vt, a = (float(p[x]) for x in ("C", "k", "vr", "vt", "a"))
    v = float(vr if v0 is None else v0)
    u = float(U_of(p, v) if u0 is None else u0)
    tau = float(dt)
    current = np.asarray(current, dtype=np.float64)
    n = current.shape[0]
    v_out, u_out, s_out = np.empty(n), np.empty(n), np.zeros(n, dtype=bool)
    for i in range(n):
        I = float(current[i])
        v_next = v + tau * ((k * (v - vr) * (v - vt) - u + I) / C)
        u_next = u + tau * (a * (U_of(p, v) - u))        # U of the OLD v, as the book's loop
        v_out[i], u_out[i] = v_next, u_next
        if v_next >= p["vpeak"] + p["vpeak_u"] * u_next:  # a spike is fired!
            s_out[i] = True
            v_next = p["c"] + p["c_u"] * u_next           # reset from u before its increment
            u_next = min(u_next + p["d"], p["u_max"])
        v, u = v_next, u_next
    return v_out, u_out, s_out


def simulate_book_rules(name, current, dt, v0=None, u0=None):
    """The same loop with :data:`BOOK_RULES` ``name`` written literally (for cross-checking)."""
    U, peak, reset = BOOK_RULES[name]
    p = PRESETS[name]
    C, k, vr, vt, a = (p[x] for x in ("C", "k", "vr", "vt", "a"))
    v = float(vr if v0 is None else v0)
    u = float(U(v) if u0 is None else u0)
    current = np.asarray(current, dtype=np.float64)
    n = current.shape[0]
    v_out, u_out, s_out = np.empty(n), np.empty(n), np.zeros(n, dtype=bool)
    for i in range(n):
        v_next = v + dt * ((k * (v - vr) * (v - vt) - u + float(current[i])) / C)
        u_next = u + dt * (a * (U(v) - u))
        v_out[i], u_out[i] = v_next, u_next
        if v_next >= peak(u_next):
            s_out[i] = True
            v_next, u_next = reset(v_next, u_next)
        v, u = v_next, u_next
    return v_out, u_out, s_out


def _step(T, dt, amp, t_on=0.0, base=0.0, t_off=None):
    """``base`` pA, ``amp`` pA for ``t_on <= t < t_off`` (step start times t = i dt)."""
    t = np.arange(int(round(T / dt))) * dt
    on = (t >= t_on - 1e-9) & ((t < t_off - 1e-9) if t_off is not None else True)
    return np.where(on, amp, base).astype(np.float64)


def _hold_then_step(T, dt, hold, t_step, amp):
    t = np.arange(int(round(T / dt))) * dt
    return np.where(t < t_step - 1e-9, hold, amp).astype(np.float64)


DT = 0.1
"""Step (ms) of most protocols; FS (C = 20 pF) uses ``DT_FS``, the book's RS program 1 ms."""

DT_FS = 0.02
"""FS's step (ms): at 0.1 ms its 100-150 Hz ISIs jitter by +-15 % from the Euler error alone."""

PROTOCOLS = {
    # name: (cell type, current (pA) per step, dt (ms), v0 (mV) or None for vr)
    # The book's program (p. 287): T = 1000 ms, tau = 1 ms, 70 pA from step 0.1 n on.
    "RS_book": ("RS", _step(1000.0, 1.0, 70.0, t_on=100.0), 1.0, None),
    "RS_100": ("RS", _step(520.0, DT, 100.0), DT, None),
    "RS_300": ("RS", _step(520.0, DT, 300.0), DT, None),
    "IB_370": ("IB", _step(600.0, DT, 370.0), DT, None),
    "IB_550": ("IB", _step(600.0, DT, 550.0), DT, None),
    "CH_200": ("CH", _step(210.0, DT, 200.0), DT, None),
    "CH_400": ("CH", _step(210.0, DT, 400.0), DT, None),
    "FS_100": ("FS", _step(100.0, DT_FS, 100.0), DT_FS, None),
    "FS_200": ("FS", _step(100.0, DT_FS, 200.0), DT_FS, None),
    "FS_400": ("FS", _step(100.0, DT_FS, 400.0), DT_FS, None),
    "LTS_100": ("LTS", _step(320.0, DT, 100.0), DT, None),
    "LTS_200": ("LTS", _step(320.0, DT, 200.0), DT, None),
    # Rebound: -1000 pA for 100 ms from rest (to about -81 mV), then nothing.
    "LTS_rebound": ("LTS", _step(400.0, DT, -1000.0, t_on=50.0, t_off=150.0), DT, None),
    # TC tonic mode: from rest (vr = -60 mV, above the -65 mV switch of b) step to 100 pA.
    "TC_tonic": ("TC", _hold_then_step(650.0, DT, 0.0, 120.0, 100.0), DT, None),
    # TC burst mode: held at -1200 pA (about -79 mV) for 120 ms, then the same 100 pA step.
    "TC_burst": ("TC", _hold_then_step(650.0, DT, -1200.0, 120.0, 100.0), DT, None),
    # TC rebound: held at -1200 pA, then released to 0 pA (ModelDB's TC_burst with Iin = 0).
    "TC_rebound": ("TC", _hold_then_step(650.0, DT, -1200.0, 120.0, 0.0), DT, None),
    "RTN_70": ("RTN", _step(650.0, DT, 70.0), DT, None),
    "RTN_burst": ("RTN", _hold_then_step(720.0, DT, -350.0, 120.0, 50.0), DT, None),
    "MSN_500": ("MSN", _step(500.0, DT, 500.0), DT, None),
}
"""Protocol name -> (cell type, current array (pA), dt (ms), v0)."""


def run_protocol(name):
    """:func:`simulate_numpy` of protocol ``name``. Returns ``(t, v, u, spikes)``, t in ms."""
    cell, current, dt, v0 = PROTOCOLS[name]
    v, u, s = simulate_numpy(PRESETS[cell], current, dt, v0=v0)
    t = (np.arange(current.shape[0]) + 1) * dt
    return t, v, u, s
