"""Selection steps: magnitude limits, colour cuts, redshift success, ratio-grid matching,
flag-dependent line confusion and many-band photo-z labels."""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cosmoml.errors import ConfigError
from cosmoml.selection.base import CatalogView, SelectionStep

# ---------------------------------------------------------------------------------------
# Photometric expressions ("g - r < 2.45 * (r - i) - 0.2976 or r - i > 1.1").
# A tiny evaluator over Python's AST instead of eval/pandas.eval: the expressions come from
# config files and command lines, and this admits only arithmetic, comparisons and and/or
# on band names and numbers, so nothing else can run.
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv}
_CMPOPS = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}


def expression_bands(expr: str) -> list[str]:
    """Band names used in an expression, in order of first use."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"cannot parse photometric expression {expr!r}: {exc.msg}") from None
    names = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]
    return list(dict.fromkeys(names))


def evaluate_expression(expr: str, view: CatalogView) -> np.ndarray:
    """Evaluate ``expr`` with band names bound to magnitudes (non-detections are +inf)."""

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            return view.mag(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.Compare):
            out, left = True, ev(node.left)
            for op, comp in zip(node.ops, node.comparators, strict=True):
                if type(op) not in _CMPOPS:
                    break
                right = ev(comp)
                out = out & _CMPOPS[type(op)](left, right)
                left = right
            else:
                return out
        if isinstance(node, ast.BoolOp):
            vals = [np.asarray(ev(v), dtype=bool) for v in node.values]
            return np.logical_and.reduce(vals) if isinstance(node.op, ast.And) else (
                np.logical_or.reduce(vals))
        raise ConfigError(
            f"photometric expression {expr!r}: {ast.dump(node)[:40]} is not allowed "
            "(use band names, numbers, + - * /, comparisons, and/or)"
        )

    expression_bands(expr)
    with np.errstate(invalid="ignore"):
        out = ev(ast.parse(expr, mode="eval"))
    return np.broadcast_to(np.asarray(out), (len(view),)).copy()


# ---------------------------------------------------------------------------------------
class MagnitudeLimit(SelectionStep):
    """Keep objects with ``bright <= m_band < limit`` (AB mag)."""

    def __init__(self, band: str, limit: float, bright: float | None = None) -> None:
        self.band = band
        self.limit = limit
        self.bright = bright

    def keep(self, view, labels, rng):
        m = view.mag(self.band)
        mask = m < self.limit
        if self.bright is not None:
            mask &= m >= self.bright
        return mask


class ColourCuts(SelectionStep):
    """Keep objects satisfying a photometric expression.

    ``cuts`` uses band names as AB magnitudes, e.g. ``"(g - r) < 2.45 * (r - i) - 0.2976
    or (r - i) > 1.1"``; several expressions are combined with *and*.
    """

    def __init__(self, cuts: str | Sequence[str]) -> None:
        self.cuts = [cuts] if isinstance(cuts, str) else list(cuts)

    def keep(self, view, labels, rng):
        mask = np.ones(len(view), dtype=bool)
        for expr in self.cuts:
            mask &= evaluate_expression(expr, view).astype(bool)
        return mask


class SuccessCurve(SelectionStep):
    """Redshift-success incompleteness depending on magnitude and true redshift.

    P(success | m, z) = ``p_max`` / (1 + exp((m − ``m50``) / ``width``)) × f(z), with f
    linear between the nodes ``z_nodes`` → ``z_success`` (constant beyond them). Each
    object is kept with that probability.
    """

    def __init__(
        self,
        band: str = "i",
        m50: float = 24.0,
        width: float = 0.3,
        p_max: float = 1.0,
        z_nodes: Sequence[float] = (0.0, 3.0),
        z_success: Sequence[float] = (1.0, 1.0),
    ) -> None:
        self.band = band
        self.m50 = m50
        self.width = width
        self.p_max = p_max
        self.z_nodes = tuple(z_nodes)
        self.z_success = tuple(z_success)

    def probability(self, mag: np.ndarray, z: np.ndarray) -> np.ndarray:
        """P(success) for magnitudes ``mag`` (AB) and true redshifts ``z``."""
        if len(self.z_nodes) != len(self.z_success) or np.any(np.diff(self.z_nodes) <= 0):
            raise ConfigError("z_nodes must increase and match z_success in length")
        with np.errstate(over="ignore"):
            pm = self.p_max / (1.0 + np.exp((np.asarray(mag) - self.m50) / self.width))
        return pm * np.interp(z, self.z_nodes, self.z_success)

    def keep(self, view, labels, rng):
        p = self.probability(view.mag(self.band), view.z)
        return rng.random(len(view)) < p


class RatioGridMatch(SelectionStep):
    """Select objects so that they follow a given spectroscopic sample's distribution.

    The reference sample and the catalogue are histogrammed on a grid in ``features``
    (photometric expressions, e.g. ``["i", "g - z"]``); an object in cell c is kept with
    probability n_ref(c) / n_cat(c), scaled so that the largest ratio among cells with at
    least 10 catalogue objects is 1 (the HSC-like "ratio grid"; sparser cells are capped at
    1). Cells the reference does not reach are never selected.

    Parameters
    ----------
    reference
        Photometry of the spectroscopic sample to mimic.
    features
        Expressions defining the grid axes.
    bins
        Number of cells per axis (edges span the reference's 0.5–99.5 percentiles).
    reference_mag_pattern
        Column pattern of ``reference`` (default ``"{band}"``).
    """

    def __init__(
        self,
        reference: pd.DataFrame,
        features: Sequence[str] = ("i", "g - r", "r - i"),
        bins: int = 10,
        reference_mag_pattern: str = "{band}",
    ) -> None:
        self.reference = reference
        self.features = list(features)
        self.bins = bins
        self.reference_mag_pattern = reference_mag_pattern

    def __repr__(self) -> str:
        return (f"RatioGridMatch(<{len(self.reference)} reference objects>, "
                f"features={self.features!r}, bins={self.bins})")

    def keep(self, view, labels, rng):
        ref = CatalogView(self.reference, self.reference_mag_pattern, name="reference sample")
        xr = np.column_stack([evaluate_expression(f, ref) for f in self.features])
        xc = np.column_stack([evaluate_expression(f, view) for f in self.features])
        ok_r = np.all(np.isfinite(xr), axis=1)
        edges = [
            np.linspace(*np.percentile(xr[ok_r, j], [0.5, 99.5]), self.bins + 1)
            for j in range(xr.shape[1])
        ]
        n_ref, _ = np.histogramdd(xr[ok_r], bins=edges)
        n_cat, _ = np.histogramdd(xc[np.all(np.isfinite(xc), axis=1)], bins=edges)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(n_cat > 0, n_ref / n_cat, 0.0)
        # scale by the largest ratio among well-populated cells: a cell holding one or two
        # catalogue objects would otherwise set the scale by its noise and starve the rest
        solid = n_cat >= 10
        scale = ratio[solid].max() if solid.any() else ratio.max()
        ratio = np.minimum(ratio / max(scale, 1e-300), 1.0)
        idx = []
        inside = np.ones(len(view), dtype=bool)
        for j, e in enumerate(edges):
            k = np.searchsorted(e, xc[:, j], side="right") - 1
            inside &= (k >= 0) & (k < self.bins)
            idx.append(np.clip(k, 0, self.bins - 1))
        p = np.where(inside, ratio[tuple(idx)], 0.0)
        return rng.random(len(view)) < p


# ---------------------------------------------------------------------------------------
#: Rest-frame vacuum wavelengths (Å) of the lines most often confused.
LINES = {"Lya": 1215.67, "OII": 3727.09, "Hb": 4862.68, "OIII": 5008.24, "Ha": 6564.61}
#: Confusable pairs (true line, line it is mistaken for), both directions.
CONFUSIONS = (("OII", "Ha"), ("Ha", "OII"), ("OIII", "Hb"), ("Hb", "OIII"),
              ("Lya", "OII"), ("OII", "Lya"))
#: Fraction of correct redshifts per confidence flag (VVDS/zCOSMOS convention:
#: 4 ≈ 99–100%, 3 ≈ 95–97%, 2 ≈ 75–85%, 1 ≈ 50%).
FLAG_PURITY = {4: 0.995, 3: 0.96, 2: 0.8, 1: 0.5}


def confused_redshift(z: np.ndarray, true_line: str, assumed_line: str) -> np.ndarray:
    """Redshift reported when ``true_line`` is identified as ``assumed_line``:
    (1 + z_wrong) = (1 + z) λ_true / λ_assumed."""
    return (1.0 + np.asarray(z)) * LINES[true_line] / LINES[assumed_line] - 1.0


#: Wavelength window (Å) of the simulated spectrograph (:class:`LineConfusion`'s default):
#: a VIMOS/DEIMOS/DESI-like optical range.
SPECTROGRAPH_WINDOW = (3600.0, 9500.0)


def plausible_confusions(z: np.ndarray, z_range: tuple[float, float],
                         wavelength_range: tuple[float, float] | None = None,
                         pairs=CONFUSIONS) -> np.ndarray:
    """(objects × pairs) redshift reported if a galaxy at true redshift ``z`` had pair
    (true line, assumed line) confused; NaN where that confusion cannot happen: the wrong
    redshift outside ``z_range``, or the true line observed outside the spectrograph's
    ``wavelength_range`` (Å; None: any wavelength)."""
    z = np.asarray(z, dtype=float)
    cols = []
    for true_line, assumed in pairs:
        zw = confused_redshift(z, true_line, assumed)
        ok = (zw >= z_range[0]) & (zw <= z_range[1])
        if wavelength_range is not None:
            obs = LINES[true_line] * (1 + z)
            ok &= (obs >= wavelength_range[0]) & (obs <= wavelength_range[1])
        cols.append(np.where(ok, zw, np.nan))
    return np.column_stack(cols)


class LineConfusion(SelectionStep):
    """Confidence flags and line-confusion label errors that rise with faintness.

    Each object gets a flag in {4, 3, 2, 1} drawn from probabilities that move from
    ``bright_probs`` to ``faint_probs`` along a logistic in magnitude (midpoint ``m_mid``,
    scale ``width``); with probability 1 − ``purity[flag]`` its redshift is replaced by a
    line-confusion redshift, drawn among the pairs in :data:`CONFUSIONS` whose true line
    falls in the spectrograph's window (``wavelength_range``, Å) and whose wrong redshift
    lies in [0, ``z_max``]. Objects with no such pair keep their correct redshift.
    Combine with :class:`FlagCut` to trade completeness for purity.
    """

    def __init__(
        self,
        band: str = "i",
        m_mid: float = 23.0,
        width: float = 0.7,
        bright_probs: Sequence[float] = (0.85, 0.10, 0.04, 0.01),
        faint_probs: Sequence[float] = (0.25, 0.30, 0.30, 0.15),
        purity: Mapping[int, float] | None = None,
        wavelength_range: tuple[float, float] = SPECTROGRAPH_WINDOW,
        z_max: float = 3.0,
    ) -> None:
        self.band = band
        self.m_mid = m_mid
        self.width = width
        self.bright_probs = tuple(bright_probs)
        self.faint_probs = tuple(faint_probs)
        self.purity = dict(purity) if purity is not None else dict(FLAG_PURITY)
        self.wavelength_range = tuple(wavelength_range)
        self.z_max = z_max

    def flag_probabilities(self, mag: np.ndarray) -> np.ndarray:
        """Probabilities of flags 4, 3, 2, 1 (columns) at each magnitude."""
        b, f = np.asarray(self.bright_probs), np.asarray(self.faint_probs)
        if b.shape != (4,) or f.shape != (4,) or not (
            np.isclose(b.sum(), 1) and np.isclose(f.sum(), 1)
        ):
            raise ConfigError("bright_probs and faint_probs must be 4 probabilities summing to 1")
        with np.errstate(over="ignore"):
            t = 1.0 / (1.0 + np.exp(-(np.asarray(mag, dtype=float) - self.m_mid) / self.width))
        return (1 - t)[:, None] * b[None, :] + t[:, None] * f[None, :]

    def relabel(self, view, labels, rng):
        probs = self.flag_probabilities(view.mag(self.band))
        u = rng.random(len(view))
        flag = 4 - (u[:, None] > np.cumsum(probs, axis=1)[:, :3]).sum(axis=1)
        purity = np.array([self.purity[int(f)] for f in (1, 2, 3, 4)])[flag - 1]
        wrong = rng.random(len(view)) >= purity
        cand = plausible_confusions(view.z, (0.0, self.z_max), self.wavelength_range)
        n_ok = np.isfinite(cand).sum(axis=1)
        wrong &= n_ok > 0
        # pick uniformly among each object's plausible confusions
        pick = np.floor(rng.random(len(view)) * np.maximum(n_ok, 1)).astype(int)
        order = np.argsort(~np.isfinite(cand), axis=1, kind="stable")
        chosen = cand[np.arange(len(view)), order[np.arange(len(view)), pick]]
        out = labels.copy()
        out["z_flag"] = np.minimum(out["z_flag"].to_numpy(), flag).astype(np.int8)
        out.loc[wrong, "z_spec"] = chosen[wrong]
        out["z_wrong"] = out["z_wrong"].to_numpy() | wrong
        return out


class FlagCut(SelectionStep):
    """Keep objects whose confidence flag is at least ``min_flag``."""

    def __init__(self, min_flag: int = 3) -> None:
        self.min_flag = min_flag

    def keep(self, view, labels, rng):
        return labels["z_flag"].to_numpy() >= self.min_flag


class ManyBandPhotoZ(SelectionStep):
    """COSMOS-like many-band photo-z labels: no selection, scatter ``sigma`` (1 + z) and a
    fraction ``outlier_frac`` of outliers drawn uniformly in [0, ``z_max``]."""

    def __init__(self, sigma: float = 0.01, outlier_frac: float = 0.01, z_max: float = 3.0):
        self.sigma = sigma
        self.outlier_frac = outlier_frac
        self.z_max = z_max

    def relabel(self, view, labels, rng):
        z = labels["z_spec"].to_numpy()
        zl = z + self.sigma * (1 + z) * rng.standard_normal(z.size)
        out = rng.random(z.size) < self.outlier_frac
        zl[out] = rng.uniform(0.0, self.z_max, out.sum())
        labels = labels.copy()
        labels["z_spec"] = np.clip(zl, 0.0, None)
        labels["z_wrong"] = labels["z_wrong"].to_numpy() | out
        return labels
