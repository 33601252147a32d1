"""Compiled GLIF kernels (private): plain arrays in, plain arrays out, no validation.

The public wrappers in :mod:`glifx.glif.simulator` validate inputs and build the packed parameter
vector ``p`` and flag vector ``f`` below (:meth:`glifx.glif.GlifModel.kernel_arrays`).  All values
are SI and relative to rest (volts, amperes, seconds, 1/s).

Packed parameters ``p`` (float64), already multiplied by their coefficients:

====  ============================================================================
0     dt / C'               (s/F)
1     g' = c_G / R          (S)
2     El                    (V)
3     theta_inf'            (V)
4     a  (voltage reset slope, 1)      5  b  (voltage reset offset, V)
6     a_spike (V)                      7  exp(-b_spike dt)
8     exp(-b_spike n dt)               9  phi = a_v' / (b_v' - g'/C')
10    exp(-g' dt / C')                 11 exp(-b_v' dt)
12    a_v' / b_v'                       13 A_1'  14 A_2' (A)
15    exp(-k_1 dt)  16 exp(-k_2 dt)    17 r_1 exp(-k_1 n dt)  18 r_2 exp(-k_2 n dt)
19    V(-1) initial voltage (V)        20 I_1(-1)  21 I_2(-1) initial currents (A)
====  ============================================================================

Flags ``f`` (int64), read by the generic kernels (the per-level ones fix 0-4): 0 voltage reset
(0 zero, 1 v_before); 1 threshold dynamics (0 inf, 1 spike_component, 2 three_components_exact);
2 threshold reset (0 inf, 1 three_components); 3 ASC dynamics (0 none, 1 exp);
4 ASC reset (0 none, 1 sum); 5 spike cut n (steps).

The names of the entries are the ``P_*`` constants below (use them, not bare indices, outside
this kernel); append, never reorder.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from glifx._numba import CACHE

N_PARAMS = 22
N_FLAGS = 6
# Names of the packed parameters (indices into ``p``; see the table above).
P_DT_OVER_C, P_G, P_EL, P_TH_INF, P_A_RESET, P_B_RESET = 0, 1, 2, 3, 4, 5
P_A_SPIKE, P_SPIKE_DECAY, P_SPIKE_DECAY_CUT = 6, 7, 8
P_PHI, P_LEAK_DECAY, P_BV_DECAY, P_AV_OVER_BV = 9, 10, 11, 12
P_ASC_AMP_1, P_ASC_AMP_2, P_ASC_DECAY_1, P_ASC_DECAY_2 = 13, 14, 15, 16
P_ASC_KEEP_CUT_1, P_ASC_KEEP_CUT_2 = 17, 18
P_V_INIT, P_ASC_INIT_1, P_ASC_INIT_2 = 19, 20, 21
# Names of the flags (indices into ``f``).
F_V_RESET, F_TH_DYNAMICS, F_TH_RESET, F_ASC_DYNAMICS, F_ASC_RESET, F_CUT_STEPS = 0, 1, 2, 3, 4, 5

#: Decaying state variables whose magnitude falls below this are set to 0 (every
#: ``FLUSH_EVERY`` steps; the kernels of :mod:`glifx.fitting._kernels` do the same).  Left
#: alone, a value decaying by a factor above 0.5 per step ends as the smallest subnormal number,
#: which ``x * decay`` rounds back to itself, so every later step does subnormal arithmetic
#: (slow on x86): a fitted GLIF5 on a 25 s Noise sweep at 200 kHz ran at 22 ns/step instead of 5
#: after the 7 s gaps.  No state of a model is near this scale (currents ~1e-12 A, voltages
#: ~1e-3 V), so spikes and traces are unchanged at any tolerance the tests use.  The check runs
#: between blocks of ``FLUSH_EVERY`` steps: inside the per-step loop the compiler turned it into
#: a select on V at every step (GLIF1 4.9 -> 7.4 ns/step).  A decay takes far more than
#: ``FLUSH_EVERY`` steps to go from ``TINY`` to the subnormal range.
TINY = 1e-200
FLUSH_EVERY = 1024


@njit(inline="always")
def flush_tiny(x):  # pragma: no cover - compiled
    """``x``, or 0 when ``|x| < TINY`` (NaN passes through)."""
    return 0.0 if abs(x) < TINY else x


@njit(cache=CACHE, nogil=True)
def first_nonfinite(x):  # pragma: no cover - compiled
    """Index of the first NaN/inf sample of ``x``, or -1."""
    for i in range(x.shape[0]):
        if not np.isfinite(x[i]):
            return i
    return -1


#: Safety margin (V) of :func:`_spike_free`: its bounds hold in exact arithmetic; the margin
#: covers the rounding of the stepped values (relative ~1e-16 of ~0.1 V at most).
QUIET_MARGIN = 1e-9


@njit(inline="always")
def _spike_free(p, th_dyn, asc_dyn, v, i1, i2, th_s, th_v):  # pragma: no cover - compiled
    """Whether no step with zero stimulus from this state on can spike, however many follow.

    Bounds that hold for every later step (u = V - El, I0 = |I_1| + |I_2|, a = 1 - g dt/C):

    * the after-spike currents only decay (factors in [0, 1]), so |I_1 + I_2| <= I0;
    * |u| <= S = max(|u|, I0 / g): ``u' = a u + (dt/C)(I_1 + I_2)`` with ``0 <= a`` and
      ``a + g dt/C = 1`` maps |u| <= S into itself;
    * |θ_s| never grows (factor in [0, 1]);
    * |θ_v| <= T = max(|θ_v|, K / (1 - e_bv)), with ``θ_v' = e_bv θ_v + (e_g - e_bv) φ (u -
      (I_1 + I_2)/g) + (1 - e_bv) (a_v/b_v) (I_1 + I_2)/g`` bounded by K.

    So V stays below El + S and θ above θ∞ - |θ_s| - T: no spike while El + S < that.  A
    depolarising after-spike current (rebound firing in the gap) or a state still near threshold
    fails the test, and the stretch is stepped.
    """
    g = p[P_G]
    dt_c = p[P_DT_OVER_C]
    a = 1.0 - g * dt_c
    if not (g > 0.0 and a >= 0.0):
        return False
    if asc_dyn == 1:
        if not (0.0 <= p[P_ASC_DECAY_1] <= 1.0 and 0.0 <= p[P_ASC_DECAY_2] <= 1.0):
            return False
        i0 = abs(i1) + abs(i2)
    else:
        i0 = 0.0
    el = p[P_EL]
    s = max(abs(v - el), i0 / g)
    th_low = p[P_TH_INF]
    if th_dyn >= 1:
        if not (0.0 <= p[P_SPIKE_DECAY] <= 1.0):
            return False
        th_low -= abs(th_s)
    if th_dyn == 2:
        e_bv = p[P_BV_DECAY]
        e_g = p[P_LEAK_DECAY]
        if not (0.0 <= e_bv < 1.0):
            return False
        k = (abs(p[P_PHI] * (e_g - e_bv)) * (s + i0 / g)
             + abs(p[P_AV_OVER_BV]) * (1.0 - e_bv) * i0 / g)
        th_low -= max(abs(th_v), k / (1.0 - e_bv))
    return el + s + QUIET_MARGIN < th_low


@njit(inline="always")
def _matmul5(a, b, out):  # pragma: no cover - compiled
    for r in range(5):
        for c in range(5):
            acc = 0.0
            for k in range(5):
                acc += a[r, k] * b[k, c]
            out[r, c] = acc


@njit
def _quiet_jump(p, th_dyn, asc_dyn, v, i1, i2, th_s, th_v, n):  # pragma: no cover - compiled
    """The state after ``n`` spike-free steps of zero stimulus, in closed form.

    With zero stimulus and no spike one step is linear in x = (V - El, I_1, I_2, θ_s, θ_v)
    (the step of :func:`_run` written out): ``x' = M x``.  ``M**n x`` by repeated squaring,
    ~log2(n) 5x5 products: equal to stepping up to rounding (relative ~1e-15).
    """
    g = p[P_G]
    dt_c = p[P_DT_OVER_C]
    m = np.zeros((5, 5))
    m[0, 0] = 1.0 - g * dt_c
    if asc_dyn == 1:
        m[0, 1] = dt_c
        m[0, 2] = dt_c
        m[1, 1] = p[P_ASC_DECAY_1]
        m[2, 2] = p[P_ASC_DECAY_2]
    m[3, 3] = p[P_SPIKE_DECAY] if th_dyn >= 1 else 1.0
    if th_dyn == 2:
        e_bv = p[P_BV_DECAY]
        d = (p[P_LEAK_DECAY] - e_bv) * p[P_PHI]
        m[4, 0] = d
        if asc_dyn == 1:
            q = ((1.0 - e_bv) * p[P_AV_OVER_BV] - d) / g
            m[4, 1] = q
            m[4, 2] = q
        m[4, 4] = e_bv
    else:
        m[4, 4] = 1.0
    el = p[P_EL]
    x = np.array([v - el, i1, i2, th_s, th_v])
    tmp = np.empty((5, 5))
    while n > 0:
        if n & 1:
            y = np.zeros(5)
            for r in range(5):
                for c in range(5):
                    y[r] += m[r, c] * x[c]
            x = y
        n >>= 1
        if n > 0:
            _matmul5(m, m, tmp)
            m, tmp = tmp, m
    return x[0] + el, x[1], x[2], x[3], x[4]


@njit(cache=CACHE, nogil=True)
def quiet_stretches(stim, min_steps):  # pragma: no cover - compiled
    """``[start, end)`` (k, 2) int64 of the runs of exactly zero samples of ``stim`` that are
    at least ``min_steps`` long."""
    n = stim.shape[0]
    out = np.empty((n // max(min_steps, 1) + 1, 2), dtype=np.int64)
    k = 0
    t = 0
    while t < n:
        if stim[t] == 0.0:
            start = t
            while t < n and stim[t] == 0.0:
                t += 1
            if t - start >= min_steps:
                out[k, 0] = start
                out[k, 1] = t
                k += 1
        else:
            t += 1
    return out[:k].copy()


@njit(inline="always")
def _run(  # pragma: no cover - compiled
    stim, p, v_reset_kind, th_dyn, th_reset, asc_dyn, asc_reset, n_cut, record, v_out, th_out, asc_out,
    forced, forced_spikes, margin_out, valid_out, quiet
):
    """Simulate one GLIF run (see GLIF_SPEC.md section 2); inlined into the specialised kernels.

    This is the one GLIF step of the library.  The method flags, ``record`` and ``forced`` are
    compile-time constants in the specialised kernels below, so each compiles to a branch-light
    loop.  Returns ``(spike_steps, truncated_at)``; ``truncated_at`` is -1 unless a bad reset
    stopped the run.  When ``record`` is true, ``v_out``, ``th_out`` (N,) and ``asc_out`` (N, 2)
    are filled completely (NaN in spike cuts and after a truncation); otherwise they are not
    touched.

    ``forced``: the model spikes at the sorted steps ``forced_spikes`` (those inside the cut of an
    earlier one are skipped) instead of at threshold crossings, and never truncates; at every step
    where the simulator tests for a spike, ``margin_out`` gets ``V - θ_s - θ_v`` (θ∞ left out) and
    ``valid_out`` true (both (N,), zero / false elsewhere: in cuts and on reset samples).  This is
    the forced-spike run of the threshold estimators and the reference objective.

    ``quiet`` (k, 2) int64: sorted ``[start, end)`` stretches of zero stimulus.  A spikes-only,
    unforced run crosses each in closed form (:func:`_quiet_jump`) from the first block boundary
    inside it where :func:`_spike_free` proves that no step of the stretch can spike; an empty
    ``quiet`` steps through everything (the reference-exact run).
    """
    n_steps = stim.shape[0]
    dt_c = p[P_DT_OVER_C]
    g = p[P_G]
    el = p[P_EL]
    th_inf = p[P_TH_INF]
    a_r = p[P_A_RESET]
    b_r = p[P_B_RESET]
    a_spike = p[P_A_SPIKE]
    e_s = p[P_SPIKE_DECAY]
    e_s_cut = p[P_SPIKE_DECAY_CUT]
    phi = p[P_PHI]
    e_g = p[P_LEAK_DECAY]
    e_bv = p[P_BV_DECAY]
    a_over_b = p[P_AV_OVER_BV]
    amp1 = p[P_ASC_AMP_1]
    amp2 = p[P_ASC_AMP_2]
    e1 = p[P_ASC_DECAY_1]
    e2 = p[P_ASC_DECAY_2]
    r1_cut = p[P_ASC_KEEP_CUT_1]
    r2_cut = p[P_ASC_KEEP_CUT_2]

    v = p[P_V_INIT]
    i1 = p[P_ASC_INIT_1]
    i2 = p[P_ASC_INIT_2]
    if asc_dyn == 0:
        i1 = 0.0
        i2 = 0.0
    th_s = 0.0
    th_v = 0.0
    nan = np.nan

    # at most one spike per (n_cut + 1) steps: allocate that once (pages untouched until used) so that
    # the array is never reassigned in the loop (which would cost a refcount call per step)
    spikes = np.empty(n_steps // (n_cut + 1) + 1, dtype=np.int64)
    n_spikes = 0
    truncated_at = -1

    j_forced = 0
    n_forced = forced_spikes.shape[0]

    n_quiet = 0 if record or forced else quiet.shape[0]
    j_quiet = 0

    t = 0
    while t < n_steps:
        # a provably silent rest of a zero-stimulus stretch is crossed in one jump (see quiet)
        while j_quiet < n_quiet and quiet[j_quiet, 1] <= t:
            j_quiet += 1
        if (j_quiet < n_quiet and quiet[j_quiet, 0] <= t
                and quiet[j_quiet, 1] - t > FLUSH_EVERY
                and _spike_free(p, th_dyn, asc_dyn, v, i1, i2, th_s, th_v)):
            v, i1, i2, th_s, th_v = _quiet_jump(p, th_dyn, asc_dyn, v, i1, i2, th_s, th_v,
                                                quiet[j_quiet, 1] - t)
            t = quiet[j_quiet, 1]
            continue
        # see TINY; between blocks, so that the check stays out of the per-step loop
        v = flush_tiny(v)
        i1 = flush_tiny(i1)
        i2 = flush_tiny(i2)
        th_s = flush_tiny(th_s)
        th_v = flush_tiny(th_v)
        block_end = min(t + FLUSH_EVERY, n_steps)
        while t < block_end:
            i_e = stim[t]
            i_sum = i1 + i2
            # 1. after-spike currents decay (V below uses the previous values)
            if asc_dyn == 1:
                i1n = i1 * e1
                i2n = i2 * e2
            else:
                i1n = 0.0
                i2n = 0.0
            # 2. forward Euler membrane
            v_new = v + (i_e + i_sum - g * (v - el)) * dt_c
            # 3. threshold
            if th_dyn == 0:
                th = th_inf
            elif th_dyn == 1:
                th_s = th_s * e_s
                th = th_s + th_inf
            else:
                th_s = th_s * e_s
                beta = (i_e + i_sum + g * el) / g
                d0 = phi * (v - beta)
                c = a_over_b * (beta - el)
                th_v = d0 * e_g + e_bv * (th_v - d0 - c) + c
                th = th_s + th_v + th_inf
            # 4. spike?
            if forced:
                margin_out[t] = v_new - th_s - th_v
                valid_out[t] = True
                while j_forced < n_forced and forced_spikes[j_forced] < t:
                    j_forced += 1
                spike = j_forced < n_forced and forced_spikes[j_forced] == t
            else:
                spike = v_new > th
            if spike:
                spikes[n_spikes] = t
                n_spikes += 1
                # 5. reset
                if v_reset_kind == 0:
                    v = 0.0
                else:
                    v = a_r * v_new + b_r
                if asc_reset == 1:
                    i1 = amp1 + r1_cut * i1n
                    i2 = amp2 + r2_cut * i2n
                else:
                    i1 = 0.0
                    i2 = 0.0
                if th_reset == 1:
                    th_s = th_s * e_s_cut + a_spike
                if th_dyn == 0:
                    th_r = th_inf
                elif th_dyn == 1:
                    th_r = th_s + th_inf
                else:
                    th_r = th_s + th_v + th_inf
                # 6. spike cut: NaN for t .. t+n-1, reset state output at t+n
                t_r = t + n_cut
                stop = t_r if t_r < n_steps else n_steps
                bad = not forced and t_r < n_steps and v > th_r
                if bad:
                    truncated_at = t_r
                    stop = n_steps
                if record:
                    for k in range(t, stop):
                        v_out[k] = nan
                        th_out[k] = nan
                        asc_out[k, 0] = nan
                        asc_out[k, 1] = nan
                    if t_r < n_steps and not bad:
                        v_out[t_r] = v
                        th_out[t_r] = th_r
                        asc_out[t_r, 0] = i1
                        asc_out[t_r, 1] = i2
                if bad:
                    t = n_steps  # leaves both loops
                    break
                t = t_r + 1
            else:
                v = v_new
                i1 = i1n
                i2 = i2n
                if record:
                    v_out[t] = v_new
                    th_out[t] = th
                    asc_out[t, 0] = i1n
                    asc_out[t, 1] = i2n
                t += 1
    return spikes[:n_spikes].copy(), truncated_at


# Empty stand-ins for the arrays a kernel neither reads nor fills (made in the kernel: global
# arrays are read-only constants to numba, and the unused branches that write them are still typed).
@njit(inline="always")
def _none_int():  # pragma: no cover - compiled
    return np.empty(0, dtype=np.int64)


@njit(inline="always")
def _none_float():  # pragma: no cover - compiled
    return np.empty(0)


@njit(inline="always")
def _none_bool():  # pragma: no cover - compiled
    return np.empty(0, dtype=np.bool_)


@njit(inline="always")
def _none_quiet():  # pragma: no cover - compiled
    return np.empty((0, 2), dtype=np.int64)


# --- specialised kernels: (stim, p, f, v_out, th_out, asc_out[, quiet]) -> (spike_steps, truncated_at)
# (``quiet``: the spikes-only kernels' zero-stimulus stretches, see _run)
# Flags of standard levels are constants; "generic" reads them from f (any method combination).
# Deliberate near-duplicates (`duplicates` pairs them): each is a plain module-level function
# that numba caches on disk (cache=True), its level's flags literal so that _run compiles without
# the other levels' branches; written out, the calls show side by side the flags that differ.


@njit(cache=CACHE, nogil=True)
def spikes_glif1(stim, p, f, v_out, th_out, asc_out, quiet):  # pragma: no cover - compiled
    return _run(stim, p, 0, 0, 0, 0, 0, f[F_CUT_STEPS], False, v_out, th_out, asc_out,
               False, _none_int(), _none_float(), _none_bool(), quiet)


@njit(cache=CACHE, nogil=True)
def spikes_glif2(stim, p, f, v_out, th_out, asc_out, quiet):  # pragma: no cover - compiled
    return _run(stim, p, 1, 1, 1, 0, 0, f[F_CUT_STEPS], False, v_out, th_out, asc_out,
               False, _none_int(), _none_float(), _none_bool(), quiet)


@njit(cache=CACHE, nogil=True)
def spikes_glif3(stim, p, f, v_out, th_out, asc_out, quiet):  # pragma: no cover - compiled
    return _run(stim, p, 0, 0, 0, 1, 1, f[F_CUT_STEPS], False, v_out, th_out, asc_out,
               False, _none_int(), _none_float(), _none_bool(), quiet)


@njit(cache=CACHE, nogil=True)
def spikes_glif4(stim, p, f, v_out, th_out, asc_out, quiet):  # pragma: no cover - compiled
    return _run(stim, p, 1, 1, 1, 1, 1, f[F_CUT_STEPS], False, v_out, th_out, asc_out,
               False, _none_int(), _none_float(), _none_bool(), quiet)


@njit(cache=CACHE, nogil=True)
def spikes_glif5(stim, p, f, v_out, th_out, asc_out, quiet):  # pragma: no cover - compiled
    return _run(stim, p, 1, 2, 1, 1, 1, f[F_CUT_STEPS], False, v_out, th_out, asc_out,
               False, _none_int(), _none_float(), _none_bool(), quiet)


@njit(cache=CACHE, nogil=True)
def spikes_generic(stim, p, f, v_out, th_out, asc_out, quiet):  # pragma: no cover - compiled
    return _run(stim, p, f[F_V_RESET], f[F_TH_DYNAMICS], f[F_TH_RESET], f[F_ASC_DYNAMICS],
               f[F_ASC_RESET], f[F_CUT_STEPS], False, v_out, th_out, asc_out,
               False, _none_int(), _none_float(), _none_bool(), quiet)


@njit(cache=CACHE, nogil=True)
def trace_glif1(stim, p, f, v_out, th_out, asc_out):  # pragma: no cover - compiled
    return _run(stim, p, 0, 0, 0, 0, 0, f[F_CUT_STEPS], True, v_out, th_out, asc_out,
               False, _none_int(), _none_float(), _none_bool(), _none_quiet())


@njit(cache=CACHE, nogil=True)
def trace_glif2(stim, p, f, v_out, th_out, asc_out):  # pragma: no cover - compiled
    return _run(stim, p, 1, 1, 1, 0, 0, f[F_CUT_STEPS], True, v_out, th_out, asc_out,
               False, _none_int(), _none_float(), _none_bool(), _none_quiet())


@njit(cache=CACHE, nogil=True)
def trace_glif3(stim, p, f, v_out, th_out, asc_out):  # pragma: no cover - compiled
    return _run(stim, p, 0, 0, 0, 1, 1, f[F_CUT_STEPS], True, v_out, th_out, asc_out,
               False, _none_int(), _none_float(), _none_bool(), _none_quiet())


@njit(cache=CACHE, nogil=True)
def trace_glif4(stim, p, f, v_out, th_out, asc_out):  # pragma: no cover - compiled
    return _run(stim, p, 1, 1, 1, 1, 1, f[F_CUT_STEPS], True, v_out, th_out, asc_out,
               False, _none_int(), _none_float(), _none_bool(), _none_quiet())


@njit(cache=CACHE, nogil=True)
def trace_glif5(stim, p, f, v_out, th_out, asc_out):  # pragma: no cover - compiled
    return _run(stim, p, 1, 2, 1, 1, 1, f[F_CUT_STEPS], True, v_out, th_out, asc_out,
               False, _none_int(), _none_float(), _none_bool(), _none_quiet())


@njit(cache=CACHE, nogil=True)
def trace_generic(stim, p, f, v_out, th_out, asc_out):  # pragma: no cover - compiled
    return _run(stim, p, f[F_V_RESET], f[F_TH_DYNAMICS], f[F_TH_RESET], f[F_ASC_DYNAMICS],
               f[F_ASC_RESET], f[F_CUT_STEPS], True, v_out, th_out, asc_out,
               False, _none_int(), _none_float(), _none_bool(), _none_quiet())


@njit(cache=CACHE, nogil=True)
def forced_margin(stim, p, f, spikes, margin, valid):  # pragma: no cover - compiled
    """Forced-spike run (any flag combination, read from ``f``): fills ``margin`` and ``valid``
    (see :func:`_run`, ``forced``) and returns the spike steps it reset at."""
    return _run(stim, p, f[F_V_RESET], f[F_TH_DYNAMICS], f[F_TH_RESET], f[F_ASC_DYNAMICS],
               f[F_ASC_RESET], f[F_CUT_STEPS], False, _none_float(), _none_float(),
                np.empty((0, 2)), True, spikes, margin, valid, _none_quiet())[0]


#: (standard level or None, record) -> kernel
KERNELS = {
    (1, False): spikes_glif1, (2, False): spikes_glif2, (3, False): spikes_glif3,
    (4, False): spikes_glif4, (5, False): spikes_glif5, (None, False): spikes_generic,
    (1, True): trace_glif1, (2, True): trace_glif2, (3, True): trace_glif3,
    (4, True): trace_glif4, (5, True): trace_glif5, (None, True): trace_generic,
}


@njit(cache=CACHE, nogil=True)
def ou_filter(xi, decay, sigma, mean):  # pragma: no cover - compiled
    """In place: ``xi`` (unit normals) becomes a stationary Ornstein-Uhlenbeck path.

    ``x[0] = mean + sigma * xi[0]`` (stationary start), then
    ``x[t] = mean + decay * (x[t-1] - mean) + sigma * sqrt(1 - decay^2) * xi[t]`` (exact update).
    """
    n = xi.shape[0]
    if n == 0:
        return xi
    scale = sigma * np.sqrt(1.0 - decay * decay)
    prev = sigma * xi[0]
    xi[0] = mean + prev
    for t in range(1, n):
        prev = decay * prev + scale * xi[t]
        xi[t] = mean + prev
    return xi
