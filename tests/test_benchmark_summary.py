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
                     "delta_mean_z": -0.004, "mean_z_err": 0.001, "mean_z_true": 0.5})
        odd = r % 2
        rows.append({"scenario": "s", "bin": 0, "method": "fix", "realisation": r,
                     "delta_mean_z": -0.001 if odd else 0.001,
                     "mean_z_err": 0.0005 if odd else 0.002,
                     "mean_z_true": 0.5})
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
    # the requirement at ⟨z⟩ = 0.5 is 0.003: "none" (0.004) never within, "fix" always
    assert s.loc["none", "within_requirement"] == 0.0
    assert s.loc["fix", "within_requirement"] == 1.0
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


def _series(values) -> pd.Series:
    return pd.Series(values, index=range(len(values)), dtype=float)


def test_five_times_verdicts():
    rng = np.random.default_rng(1)
    u = _series(-0.010 + 0.0015 * rng.standard_normal(10))
    small = _series(0.0001 + 0.0006 * rng.standard_normal(10))
    shown = five_times(u, small)
    assert shown["target"] == "shown"
    f_r = -u / 5 - np.sign(small.mean()) * small
    assert shown["target_margin"] == pytest.approx(abs(u.mean()) / 5 - abs(small.mean()))
    assert shown["target_margin_se"] == pytest.approx(f_r.std(ddof=1) / np.sqrt(10))
    assert five_times(u, _series(0.004 + 0.0006 * rng.standard_normal(10)))["target"] \
        == "excluded"
    # a bias exactly at the target can never be decided (exact binary fractions: f = 0)
    at = five_times(_series([-0.625, -0.75, -0.5]), _series([-0.25, -0.15625, -0.0625]),
                    factor=4.0)
    assert at["target_margin"] == 0.0
    assert at["target"] == "undecided" and at["realisations_to_decide"] == np.inf


def test_five_times_pairs_the_realisations():
    # a correction that leaves a fifth of each realisation's (noisy) bias, less 0.001:
    # every paired margin is 0.001, so the 5× is shown at once, where treating the two
    # means as independent (σ_f = hypot(σ_u/5, σ_c)/√n ≈ 0.0007) could not tell
    rng = np.random.default_rng(2)
    u = _series(-0.010 + 0.007 * rng.standard_normal(8))
    c = u / 5 + 0.001
    got = five_times(u, c)
    assert got["target_margin"] == pytest.approx(0.001)
    assert got["target_margin_se"] == pytest.approx(0.0, abs=1e-12)
    assert got["target"] == "shown"
    independent = np.hypot(u.std(ddof=1) / 5, c.std(ddof=1)) / np.sqrt(8)
    assert 2 * independent > 0.001
    # the same corrected values in another order are no longer paired with their own
    # uncorrected ones: the scatter of the margins is back and nothing is decided
    shuffled = _series(c.to_numpy()[[3, 7, 0, 5, 1, 6, 2, 4]])
    assert five_times(u, shuffled)["target"] == "undecided"


def test_five_times_uses_only_realisations_in_both():
    # a scenario pooled from a file that had fewer realisations of the corrected method:
    # the margin and its error come from the realisations both have, and the count to
    # decide is scaled from theirs
    u = _series(np.r_[[-0.005, -0.006, -0.004, -0.005], np.full(26, -0.005)])
    c = pd.Series([-0.0004, -0.0002, -0.0006], index=[0, 1, 2])
    got = five_times(u, c)
    f_r = -u.iloc[:3] / 5 + c
    assert got["target_margin"] == pytest.approx(f_r.mean())
    se = f_r.std(ddof=1) / np.sqrt(3)
    assert got["target_margin_se"] == pytest.approx(se)
    assert got["realisations_to_decide"] == np.ceil(3 * (2 * se / f_r.mean()) ** 2)


def test_resummary_keeps_every_method_of_the_file(tmp_path, monkeypatch):
    # a re-summary (--realisations 0) of a file with methods outside the default list must
    # keep them (it once silently dropped them) and keep the rows' provenance
    import json

    import shift_realisations

    rows = [{"scenario": "combined", "bin": 0, "method": m, "realisation": r,
             "delta_mean_z": d + 0.0001 * r, "mean_z_err": 0.001, "mean_z_true": 0.3}
            for r in range(3) for m, d in (("none", -0.005), ("success+survey", -0.0005))]
    f = tmp_path / "res.json"
    f.write_text(json.dumps({"estimator": "nn", "rows": rows, "cosmoml_version": "x",
                             "machine": "m", "seconds": 1.0, "included": None}))
    monkeypatch.setattr(sys, "argv", ["shift_realisations.py", "--realisations", "0",
                                      "--include", str(f), "--output", str(f)])
    shift_realisations.main()
    doc = json.loads(f.read_text())
    assert len(doc["rows"]) == 6 and doc["estimator"] == "nn" and doc["seconds"] == 1.0
    (ratio,) = doc["ratios"]
    assert ratio["method"] == "success+survey"
    assert ratio["target_margin"] == pytest.approx(0.0049 / 5 - 0.0004)  # means at r = 1
