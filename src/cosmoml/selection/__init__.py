"""Simulated spectroscopic selections and label errors (composable surveys).

>>> from cosmoml.selection import Survey, MagnitudeLimit, LineConfusion, FlagCut
>>> survey = Survey([MagnitudeLimit("i", 23.5), LineConfusion(), FlagCut(3)], name="mine")
>>> spec = survey.select(catalog, seed=1)                     # doctest: +SKIP
"""

from cosmoml.selection.base import (
    LABEL_COLUMNS,
    CatalogView,
    SelectionStep,
    Survey,
    combine_surveys,
)
from cosmoml.selection.presets import (
    PRESETS,
    boss_like,
    cosmos_like,
    deep2_like,
    magnitude_limited,
    vvds_like,
    zcosmos_like,
)
from cosmoml.selection.steps import (
    CONFUSIONS,
    FLAG_PURITY,
    LINES,
    ColourCuts,
    FlagCut,
    LineConfusion,
    MagnitudeLimit,
    ManyBandPhotoZ,
    RatioGridMatch,
    SuccessCurve,
    confused_redshift,
    evaluate_expression,
)

__all__ = [
    "CONFUSIONS", "FLAG_PURITY", "LABEL_COLUMNS", "LINES", "PRESETS", "CatalogView",
    "ColourCuts", "FlagCut", "LineConfusion", "MagnitudeLimit", "ManyBandPhotoZ",
    "RatioGridMatch", "SelectionStep", "SuccessCurve", "Survey", "boss_like",
    "combine_surveys", "confused_redshift", "cosmos_like", "deep2_like", "evaluate_expression",
    "magnitude_limited", "vvds_like", "zcosmos_like",
]
