"""Survey presets modelled on published spectroscopic selections.

These are *models of* the surveys, in LSST-like bands, for simulation studies: the cuts
are the published ones with the nearest LSST band standing in for the survey's own
(B→g, R→r, I→i), and the success curves are smooth fits shaped like the published ones.
They are not the surveys' exact selection functions.

- DEEP2 (Newman et al. 2013, ApJS 208, 5, eq. 1): R_AB < 24.1 and the colour pre-selection
  that removes z < 0.7 galaxies; [OII] leaves the DEIMOS window above z ≈ 1.45.
- BOSS (Reid et al. 2016, MNRAS 455, 1553): CMASS and LOWZ colour–magnitude cuts.
- VVDS-Deep (Le Fèvre et al. 2005, 2013): 17.5 ≤ I_AB ≤ 24, success falling with
  magnitude and in the 1.5 < z < 2.2 "redshift desert".
- zCOSMOS-bright (Lilly et al. 2007, 2009): I_AB < 22.5, success ~ 100% at 0.5 < z < 0.8,
  falling beyond z ≈ 1 as [OII] leaves the VIMOS window.
- COSMOS-like many-band photo-z (Laigle et al. 2016): i < 25, σ ≈ 0.01 (1 + z), ~1% outliers.
"""

from __future__ import annotations

from cosmoml.selection.base import Survey
from cosmoml.selection.steps import (
    ColourCuts,
    FlagCut,
    LineConfusion,
    MagnitudeLimit,
    ManyBandPhotoZ,
    SelectionStep,
    SuccessCurve,
)

DEEP2_CUTS = "r < 24.1 and ((g - r) < 2.45 * (r - i) - 0.2976 or (r - i) > 1.1 or (g - r) < 0.5)"
CMASS_CUTS = (
    "17.5 < i < 19.9 and (r - i) < 2.0 and (r - i) - (g - r) / 8 > 0.55 "
    "and i < 19.86 + 1.6 * ((r - i) - (g - r) / 8 - 0.8)"
)
LOWZ_CUTS = (
    "16.0 < r < 19.6 and (r - i) - (g - r) / 4 - 0.18 < 0.2 "
    "and (r - i) - (g - r) / 4 - 0.18 > -0.2 "
    "and r < 13.5 + (0.7 * (g - r) + 1.2 * (r - i - 0.18)) / 0.3"
)


def _flags(steps: list[SelectionStep], min_flag: int | None, m_mid: float) -> list:
    if min_flag is None:
        return steps
    return [*steps, LineConfusion(band="i", m_mid=m_mid), FlagCut(min_flag)]


def magnitude_limited(band: str = "i", limit: float = 23.0, **kw) -> Survey:
    """A pure magnitude limit ``m_band < limit``."""
    return Survey([MagnitudeLimit(band, limit)], name=f"{band}<{limit:g}", **kw)


def deep2_like(min_flag: int | None = None, **kw) -> Survey:
    """DEEP2-like: R < 24.1, colour pre-selection for z > 0.7, ~75% success, none beyond
    z ≈ 1.45."""
    steps = [
        ColourCuts(DEEP2_CUTS),
        SuccessCurve("r", m50=24.6, width=0.3, p_max=0.8, z_nodes=(1.35, 1.5),
                     z_success=(1.0, 0.05)),
    ]
    return Survey(_flags(steps, min_flag, 23.3), name="deep2-like", **kw)


def boss_like(**kw) -> Survey:
    """BOSS-like: the union of CMASS and LOWZ colour–magnitude cuts (bright, red)."""
    return Survey([ColourCuts(f"({CMASS_CUTS}) or ({LOWZ_CUTS})")], name="boss-like", **kw)


def vvds_like(min_flag: int | None = None, **kw) -> Survey:
    """VVDS-Deep-like: 17.5 ≤ i ≤ 24, success falling with magnitude and in the desert."""
    steps = [
        MagnitudeLimit("i", 24.0, bright=17.5),
        SuccessCurve("i", m50=24.3, width=0.35, p_max=0.9,
                     z_nodes=(1.3, 1.6, 2.2, 2.5), z_success=(1.0, 0.35, 0.35, 0.7)),
    ]
    return Survey(_flags(steps, min_flag, 23.0), name="vvds-like", **kw)


def zcosmos_like(min_flag: int | None = None, **kw) -> Survey:
    """zCOSMOS-bright-like: i < 22.5, best success at 0.5 < z < 0.8, falling beyond z ≈ 1."""
    steps = [
        MagnitudeLimit("i", 22.5),
        SuccessCurve("i", m50=22.8, width=0.25, p_max=0.97,
                     z_nodes=(0.0, 0.4, 0.5, 0.8, 1.0, 1.2, 1.4),
                     z_success=(0.85, 0.9, 1.0, 1.0, 0.8, 0.4, 0.1)),
    ]
    return Survey(_flags(steps, min_flag, 22.0), name="zcosmos-like", **kw)


def cosmos_like(i_max: float = 25.0, sigma: float = 0.01, outlier_frac: float = 0.01,
                **kw) -> Survey:
    """COSMOS-like many-band photo-z labels down to ``i_max``."""
    steps = [MagnitudeLimit("i", i_max), ManyBandPhotoZ(sigma, outlier_frac)]
    return Survey(steps, name="cosmos-like", **kw)


PRESETS = {
    "magnitude-limited": magnitude_limited,
    "deep2": deep2_like,
    "boss": boss_like,
    "vvds": vvds_like,
    "zcosmos": zcosmos_like,
    "cosmos": cosmos_like,
}
