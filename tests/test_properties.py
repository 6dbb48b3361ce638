"""Property tests: random malformed catalogues never leave a partial output behind.

Whatever the input (random bad cells, truncated or garbage files, in parquet, CSV or
HDF5), prediction either succeeds with one output row per input row and the right flags,
or stops with a :class:`CatalogError` naming the file, and leaves no output or temporary
file behind.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cosmoml.catalog import resolve_columns
from cosmoml.datasets import load_dc2
from cosmoml.engine import run_predict
from cosmoml.errors import CatalogError
from cosmoml.model import FLAG_BAD_VALUE, FLAG_NO_PDF, PhotoZModel
from cosmoml.workflows import predict

MAGS = [f"mag_{b}_lsst" for b in "ugrizy"]
BAD_CELLS = ["abc", "", None, np.nan, np.inf, -np.inf, 99.0, -99.0, -999.0, 0.0, 1e30, "1e3x"]
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("prop")
    train = load_dc2("training", n=800)
    PhotoZModel("knn").fit(train, resolve_columns(train.columns, need_z=True)).save(
        d / "m.cosmoml")
    return d / "m.cosmoml", load_dc2("validation", n=60).drop(columns="redshift")


def _write(df: pd.DataFrame, path):
    if path.suffix == ".parquet":
        df.to_parquet(path)
    elif path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        from cosmoml.catalog.io import write_table

        write_table(df, path)


def _no_leftovers(directory, output):
    assert not [p.name for p in directory.iterdir() if p.name.startswith(".")]
    if output.is_dir():
        assert not list(output.glob(".*"))


@SETTINGS
@given(cells=st.lists(st.tuples(st.integers(0, 59), st.integers(0, 5),
                                st.sampled_from(BAD_CELLS)), max_size=25),
       fmt=st.sampled_from([".parquet", ".csv", ".hdf5"]),
       streamed=st.booleans())
def test_bad_cells_are_flagged_never_lost(model_file, tmp_path_factory, cells, fmt, streamed):
    model, photo = model_file
    d = tmp_path_factory.mktemp("cells")
    df = photo.copy().astype({c: object for c in MAGS})
    for row, col, value in cells:
        df.iat[row, df.columns.get_loc(MAGS[col])] = value
    if fmt == ".hdf5":  # HDF5 columns are numeric arrays: text cannot be stored there
        df[MAGS] = df[MAGS].apply(pd.to_numeric, errors="coerce")
    path = d / f"cat{fmt}"
    try:
        _write(df, path)
    except (ValueError, TypeError):  # a writer refusing mixed objects is not ours to test
        event("writer refused")
        return
    out = d / ("ds" if streamed else "pz.parquet")
    try:
        if streamed:
            run_predict(model, path, out, chunk_size=16, part_rows=25)
            got = pd.concat([pd.read_parquet(f) for f in sorted(out.glob("part-*.parquet"))])
        else:
            got = predict(model, path, out, bad_values="flag")
    except CatalogError as exc:  # only a column with no number at all stops the run
        event("stopped")
        assert str(path) in str(exc) and "holds no numbers" in str(exc)
        assert not out.exists() or not list(out.glob("part-*.parquet"))
        _no_leftovers(d, out)
        return
    _no_leftovers(d, out)
    event(f"predicted{fmt}")
    assert len(got) == len(photo)
    np.testing.assert_array_equal(got["id"].to_numpy(), photo["id"].to_numpy())
    # text that is not a number (CSV reads an empty cell as missing, not as text)
    text = np.array([[isinstance(v, str) and not _is_number(v) and not (fmt == ".csv" and not v)
                      for v in df[c]] for c in MAGS]).T
    flags = got["flag"].to_numpy()
    np.testing.assert_array_equal((flags & FLAG_BAD_VALUE) != 0, text.any(axis=1))
    # rows without a PDF have NaN estimates; the others finite ones
    no_pdf = (flags & FLAG_NO_PDF) != 0
    assert np.isnan(got["z_median"].to_numpy()[no_pdf]).all()
    assert np.isfinite(got["z_median"].to_numpy()[~no_pdf]).all()


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


@SETTINGS
@given(cut=st.floats(0.0, 0.95), garbage=st.binary(max_size=64),
       fmt=st.sampled_from([".parquet", ".csv", ".hdf5"]), streamed=st.booleans(),
       how=st.sampled_from(["truncate", "garbage", "drop_column", "empty"]))
def test_damaged_files_stop_cleanly(model_file, tmp_path_factory, cut, garbage, fmt, streamed,
                                    how):
    model, photo = model_file
    d = tmp_path_factory.mktemp("files")
    path = d / f"cat{fmt}"
    df = photo
    if how == "drop_column":
        df = photo.drop(columns="mag_r_lsst")
    elif how == "empty":
        df = photo.iloc[:0]
    _write(df, path)
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: int(len(data) * cut)])
    elif how == "garbage":
        k = int(len(data) * cut)
        path.write_bytes(data[:k] + garbage + data[k + len(garbage):])
    out = d / ("ds" if streamed else "pz.parquet")
    try:
        if streamed:
            res = run_predict(model, path, out, chunk_size=16, part_rows=25)
            n_out = res["output_rows"]
        else:
            n_out = len(predict(model, path, out, bad_values="flag"))
    except CatalogError as exc:
        event(f"stopped {how}")
        assert str(path) in str(exc) or path.name in str(exc)
        assert not (out.is_file() or list(out.glob("part-*.parquet")) if out.exists()
                    else False)
        _no_leftovers(d, out)
        return
    # it read: then every row it saw is in the output, once (garbage may land in values)
    event(f"read {how}")
    _no_leftovers(d, out)
    assert how in ("truncate", "garbage", "empty") or n_out == len(df)
    if how == "empty":
        assert n_out == 0
