"""Accuracy on the real DC2 benchmark data (slow: run with ``pytest -m slow``).

These guard the figures quoted in the README and the issue notes; the full comparison with
RAIL lives in ``benchmarks/photoz_dc2.py``.
"""

from __future__ import annotations

import pytest

from cosmoml.catalog import resolve_columns
from cosmoml.datasets import load_dc2
from cosmoml.metrics import evaluate
from cosmoml.model import PhotoZModel

pytestmark = pytest.mark.slow

#: name -> (max sigma68, max outlier fraction, max PIT KS), measured values in the note
TARGETS = {
    "nn": (0.0210, 0.022, 0.030),  # the issue-2 targets (measured 0.0209, 2.08%, 0.017)
    "nn-fast": (0.026, 0.025, 0.030),
    "forest": (0.025, 0.026, 0.030),
}


@pytest.mark.parametrize("name", list(TARGETS))
def test_dc2_accuracy(name):
    train, valid = load_dc2("training"), load_dc2("validation")
    model = PhotoZModel(name).fit(train, resolve_columns(train.columns, need_z=True))
    pdfs, valid_mask = model.predict_pdf(valid)
    assert valid_mask.all()
    m = evaluate(pdfs, valid["redshift"].to_numpy())
    s68, out, ks = TARGETS[name]
    assert m["sigma68"] <= s68 and m["outlier_frac"] <= out and m["pit_ks"] <= ks, m
