"""Obuchowski-Rockette (OR) analysis of multi-reader multi-case studies, with Hillis' degrees of freedom.

The figure of merit (FOM) of reader j under treatment i is θ_ij. The OR model (Obuchowski and
Rockette 1995) writes θ_ij = μ + τ_i + R_j + (τR)_ij + ε_ij with random readers R_j ~ (0, σ²_R),
(τR)_ij ~ (0, σ²_TR) and an error ε from the cases, whose covariances are
Var(ε_ij) = σ²_ε, Cov1 (same reader, other treatment), Cov2 (same treatment, other reader) and
Cov3 (other treatment and reader). The error covariances are estimated from the case jackknife
(:func:`jackknife_covariance`) and averaged over the pairs of each kind.

Two treatments or more (:func:`or_treatments`, Hillis et al. 2005, Hillis 2007)::

    MS(T)  = r/(t-1) Σ_i (θ̄_i. - θ̄..)²
    MS(R)  = t/(r-1) Σ_j (θ̄_.j - θ̄..)²
    MS(TR) = 1/((t-1)(r-1)) Σ_ij (θ_ij - θ̄_i. - θ̄_.j + θ̄..)²
    F      = MS(T) / [MS(TR) + r max(Cov2 - Cov3, 0)]
    ddf_H  = [MS(TR) + r max(Cov2 - Cov3, 0)]² / {MS(TR)² / ((t-1)(r-1))}
    SE(θ̄_i. - θ̄_i'.) = sqrt{2/r [MS(TR) + r max(Cov2 - Cov3, 0)]}, a t interval on ddf_H
    σ²_TR  = MS(TR) - σ²_ε + Cov1 + Cov2 - Cov3
    σ²_R   = [MS(R) - σ²_TR - σ²_ε - (t-1) Cov1 + Cov2 + (t-1) Cov3] / t

One treatment (:func:`or_single_treatment`: "Analysis 1(c)" of the OR-DBM MRMC software, the
template of RJafroc's 1T-RRRC analysis of an algorithm against readers)::

    MS(R) = 1/(r-1) Σ_j (θ_j - θ̄)²,  SE = sqrt{[MS(R) + r max(Cov2, 0)] / r}
    df    = [MS(R) + r max(Cov2, 0)]² / {MS(R)² / (r-1)}    ("ddf_H_single", Hillis 2007)

**Model against radiologists** (:func:`model_vs_readers`, ``--readers random``): the model is one
fixed reader, so the crossed two-treatment model does not apply. Each scored reader j gives one
difference D_j = θ_model(ref_j) - θ_j, the model and reader j scored against the same reference
(leave-one-out: the majority of the other readers; gold-panel: the gold majority). The D_j are one
treatment read by r random readers: the single-treatment analysis above on them gives the mean
difference (the scorer's model - radiologists), its standard error, ``df``, a t interval and a
two-sided p-value. Its jackknife runs over studies: dropping study k removes its contribution from
every confusion count, so all n jackknife samples cost one subtraction.

Leave-one-out references make the readers' D_j dependent in ways the OR model does not describe;
its calibration on such panels is shown by simulation (``benchmarks/validation_study.py``).

References: Obuchowski NA, Rockette HE (1995) Commun Stat Simul Comput 24:285-308; Hillis SL,
Obuchowski NA, Schartz KM, Berbaum KS (2005) Stat Med 24:1579-1607; Hillis SL (2007) Stat Med
26:596-619; Chakraborty DP, RJafroc, StSignificanceTestingCadVsRad (method 1T-RRRC).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mura_bench.stats.metrics import COUNT_METRICS

#: The method name written beside a difference analysed with random readers.
METHOD = "obuchowski-rockette"


def jackknife_covariance(jackknife_values: np.ndarray) -> np.ndarray:
    """Covariance matrix of m estimates from their n leave-one-case-out values, (n, m) -> (m, m):
    (n-1)/n Σ_k (θ_(k) - θ̄_(.))(θ_(k) - θ̄_(.))ᵀ."""
    values = np.asarray(jackknife_values, dtype=np.float64)
    n = values.shape[0]
    centred = values - values.mean(axis=0)
    return (n - 1) / n * (centred.T @ centred)


def trapezoidal_auc(normal: np.ndarray, abnormal: np.ndarray) -> float:
    """Trapezoidal (Wilcoxon) area under the ROC curve of ratings: P(abnormal > normal) + P(tie)/2."""
    normal, abnormal = np.asarray(normal, dtype=np.float64), np.asarray(abnormal, dtype=np.float64)
    above = (abnormal[:, None] > normal[None, :]).mean()
    tied = (abnormal[:, None] == normal[None, :]).mean()
    return float(above + tied / 2)


@dataclass(frozen=True)
class ErrorCovariances:
    """OR's error variance and covariances (averages over the pairs of each kind)."""

    var_error: float
    cov1: float  # same reader, different treatments
    cov2: float  # same treatment, different readers
    cov3: float  # different treatments and readers


def error_covariances(covariance: np.ndarray, treatments: int, readers: int) -> ErrorCovariances:
    """Average OR covariances of a (t r, t r) covariance matrix of θ stored treatment-major
    (index i * r + j)."""
    cov = np.asarray(covariance, dtype=np.float64).reshape(treatments, readers, treatments, readers)
    same_t = np.eye(treatments, dtype=bool)[:, None, :, None]
    same_r = np.eye(readers, dtype=bool)[None, :, None, :]

    def mean_where(mask: np.ndarray) -> float:
        mask = np.broadcast_to(mask, cov.shape)
        return float(cov[mask].mean()) if mask.any() else 0.0

    return ErrorCovariances(
        var_error=mean_where(same_t & same_r),
        cov1=mean_where(~same_t & same_r),
        cov2=mean_where(same_t & ~same_r),
        cov3=mean_where(~same_t & ~same_r),
    )


@dataclass(frozen=True)
class TreatmentsAnalysis:
    """OR analysis of t ≥ 2 treatments with random readers and cases (and fixed readers)."""

    means: np.ndarray  # (t,) reader-averaged FOM per treatment
    ms_t: float
    ms_r: float
    ms_tr: float
    errors: ErrorCovariances
    var_r: float
    var_tr: float
    f: float
    ddf: float  # Hillis' ddf_H
    p: float
    se_difference: float  # SE of a difference of two treatment means
    chi2_fixed_readers: float  # Analysis 2: X² on t - 1 df
    p_fixed_readers: float


def or_treatments(theta: np.ndarray, covariance: np.ndarray) -> TreatmentsAnalysis:
    """OR analysis of ``theta`` (t, r) (treatments x readers) with ``covariance`` (t r, t r) of its
    case-sampling errors (treatment-major)."""
    theta = np.asarray(theta, dtype=np.float64)
    t, r = theta.shape
    grand = theta.mean()
    by_t, by_r = theta.mean(axis=1), theta.mean(axis=0)
    ms_t = r * float(((by_t - grand) ** 2).sum()) / (t - 1)
    ms_r = t * float(((by_r - grand) ** 2).sum()) / (r - 1)
    ms_tr = float(((theta - by_t[:, None] - by_r[None, :] + grand) ** 2).sum()) / ((t - 1) * (r - 1))
    e = error_covariances(covariance, t, r)
    var_tr = ms_tr - e.var_error + e.cov1 + e.cov2 - e.cov3
    var_r = (ms_r - var_tr - e.var_error - (t - 1) * e.cov1 + e.cov2 + (t - 1) * e.cov3) / t
    denominator = ms_tr + r * max(e.cov2 - e.cov3, 0.0)
    f = ms_t / denominator
    ddf = denominator**2 / (ms_tr**2 / ((t - 1) * (r - 1)))
    fixed_denominator = e.var_error - e.cov1 + (r - 1) * max(e.cov2 - e.cov3, 0.0)
    chi2 = (t - 1) * ms_t / fixed_denominator
    from scipy.special import chdtrc, fdtrc  # here: scipy costs 0.15 s to import, fixed readers never need it

    return TreatmentsAnalysis(
        means=by_t,
        ms_t=ms_t,
        ms_r=ms_r,
        ms_tr=ms_tr,
        errors=e,
        var_r=var_r,
        var_tr=var_tr,
        f=f,
        ddf=ddf,
        p=float(fdtrc(t - 1, ddf, f)),
        se_difference=float(np.sqrt(2.0 / r * denominator)),
        chi2_fixed_readers=chi2,
        p_fixed_readers=float(chdtrc(t - 1, chi2)),
    )


@dataclass(frozen=True)
class SingleTreatment:
    """OR single-treatment analysis of a reader-averaged FOM (or of reader differences)."""

    value: float
    ms_r: float
    cov2: float
    se: float
    df: float  # inf when the readers agree exactly (MS(R) = 0)
    ci: tuple[float, float]
    p_value: float  # two-sided, H0: the FOM is 0 (NaN when SE = 0)


def or_single_treatment(theta: np.ndarray, covariance: np.ndarray, confidence: float = 0.95) -> SingleTreatment:
    """Single-treatment OR analysis of the r readers' ``theta`` (r,) with ``covariance`` (r, r) of
    their case-sampling errors: mean, SE, Hillis' df, t interval at ``confidence`` and the
    two-sided p-value of H0: mean = 0."""
    theta = np.asarray(theta, dtype=np.float64)
    r = theta.size
    value = float(theta.mean())
    ms_r = float(theta.var(ddof=1))
    cov = np.asarray(covariance, dtype=np.float64)
    cov2 = float(cov[~np.eye(r, dtype=bool)].mean())
    numerator = ms_r + r * max(cov2, 0.0)
    se = float(np.sqrt(numerator / r))
    df = numerator**2 / (ms_r**2 / (r - 1)) if ms_r > 0 else float("inf")
    if se == 0.0:
        return SingleTreatment(value, ms_r, cov2, se, df, (value, value), float("nan"))
    from scipy.special import stdtr, stdtrit  # lighter to import than scipy.stats; here, as above

    half = float(stdtrit(df, 0.5 + confidence / 2)) * se
    p = float(2 * stdtr(df, -abs(value) / se))
    return SingleTreatment(value, ms_r, cov2, se, df, (value - half, value + half), p)


def jackknife_counts(truth: np.ndarray, pred: np.ndarray):
    """TP, FP, FN, TN of each (truth, pred) column pair: the full sample (1, K) and its n
    leave-one-study-out samples (n, K), both float64. ``truth``, ``pred``: (n, K) 0/1."""
    truth = np.asarray(truth, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    per_study = [truth & pred, ~truth & pred, truth & ~pred, ~truth & ~pred]
    full = [x.sum(axis=0, keepdims=True).astype(np.float64) for x in per_study]
    jack = [f - x for f, x in zip(full, per_study)]
    return full, jack


def reader_differences(
    references: np.ndarray, readers: np.ndarray, reader_reference: np.ndarray, model: np.ndarray, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """D_j = metric(ref_j, model) - metric(ref_j, reader j) for the original sample (r,) and its
    n leave-one-study-out samples (n, r). ``references`` (n, K), ``readers`` (n, r) with reader j
    scored against column ``reader_reference[j]``, ``model`` (n,) 0/1."""
    refs = np.asarray(references)[:, np.asarray(reader_reference)]
    model = np.broadcast_to(np.asarray(model)[:, None], refs.shape)
    fn = COUNT_METRICS[metric]
    (m_full, m_jack), (r_full, r_jack) = jackknife_counts(refs, model), jackknife_counts(refs, readers)
    return (fn(*m_full) - fn(*r_full))[0], fn(*m_jack) - fn(*r_jack)


def model_vs_readers(
    references: np.ndarray,
    readers: np.ndarray,
    reader_reference: np.ndarray,
    model: np.ndarray,
    metric: str,
    confidence: float = 0.95,
) -> SingleTreatment:
    """Random-reader OR analysis of model - radiologists on one group (see the module docstring):
    the single-treatment analysis of the D_j with jackknife covariances over studies."""
    point, jack = reader_differences(references, readers, reader_reference, model, metric)
    return or_single_treatment(point, jackknife_covariance(jack), confidence)
