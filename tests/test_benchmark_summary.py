"""The realisation benchmark's summary (``benchmarks/shift_realisations.py``) on rows with
known answers: the figures quoted in the README come from it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from shift_realisations import five_times, summarise


def test_summary_of_known_rows():
    # scenario s, bin 0, four realisations: "none" −0.004 ± 0.001 each time (never covered,
    # pull −4); "fix" alternates +0.001 / −0.001 with errors 0.002 / 0.0005 (covered in
    # half, pulls 0.5 and −2)
    rows = []
    for r in range(4):
        rows.append({"scenario": "s", "bin": 0, "method": "none", "realisation": r,
                     "delta_mean_z": -0.004, "mean_z_err": 0.001})
        odd = r % 2
        rows.append({"scenario": "s", "bin": 0, "method": "fix", "realisation": r,
                     "delta_mean_z": -0.001 if odd else 0.001,
                     "mean_z_err": 0.0005 if odd else 0.002})
    summ, ratios, covers = summarise(pd.DataFrame(rows), ["none", "fix"])
    s = summ.set_index("method")
    assert (s["n"] == 4).all()
    assert s.loc["none", "mean"] == pytest.approx(-0.004)
    assert s.loc["none", "se"] == pytest.approx(0.0, abs=1e-12)
    assert s.loc["none", "covers"] == 0.0 and s.loc["none", "pull_rms"] == pytest.approx(4.0)
    assert s.loc["fix", "mean"] == pytest.approx(0.0, abs=1e-12)
    assert s.loc["fix", "se"] == pytest.approx(np.std([1, -1, 1, -1], ddof=1) * 1e-3 / 2)
    assert s.loc["fix", "covers"] == 0.5
    assert s.loc["fix", "pull_rms"] == pytest.approx(np.sqrt((0.5**2 + 2**2) / 2))
    assert covers == {"none": 0.0, "fix": 0.5}
    (ratio,) = ratios
    assert ratio["method"] == "fix" and ratio["uncorrected_significant"] is True
    assert ratio["corrected_consistent_with_zero"] is True and ratio["ratio"] > 5
    # margin 0.004/5 − 0 = 0.0008 against 2σ = 2 × 0.00058 (the "fix" mean's standard
    # error): not settled by 4 realisations; 2σ falls to 0.0008 after 4 × (0.00115 /
    # 0.0008)² = 8.3 of them
    se = s.loc["fix", "se"]
    assert ratio["target_margin"] == pytest.approx(0.0008)
    assert ratio["target_margin_se"] == pytest.approx(se)
    assert ratio["target"] == "undecided"
    assert ratio["realisations_to_decide"] == np.ceil(4 * (2 * se / 0.0008) ** 2) == 9


def test_five_times_verdicts():
    u = pd.Series({"n": 10, "mean": -0.010, "se": 0.0005})
    shown = five_times(u, pd.Series({"n": 10, "mean": 0.0001, "se": 0.0002}))
    assert shown["target"] == "shown"
    assert shown["target_margin_se"] == pytest.approx(np.hypot(0.0001, 0.0002))
    excluded = five_times(u, pd.Series({"n": 10, "mean": 0.004, "se": 0.0002}))
    assert excluded["target"] == "excluded"
    # a bias exactly at the target can never be decided
    at = five_times(u, pd.Series({"n": 10, "mean": -0.002, "se": 0.0002}))
    assert at["target"] == "undecided" and at["realisations_to_decide"] == np.inf


def test_realisations_to_decide_uses_the_fewer_realisations():
    # a scenario pooled from a file that had fewer realisations of it: the count that sets
    # the standard errors is its own, not the file's largest
    u = pd.Series({"n": 30, "mean": -0.005, "se": 0.0005})
    c = pd.Series({"n": 12, "mean": -0.0004, "se": 0.0004})
    got = five_times(u, c)
    f, se = 0.001 - 0.0004, np.hypot(0.0001, 0.0004)
    assert got["target"] == "undecided"
    assert got["realisations_to_decide"] == np.ceil(12 * (2 * se / f) ** 2)
