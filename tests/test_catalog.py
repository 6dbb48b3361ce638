"""Readers for each format, bad files, column mapping and the non-detection policy."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from cosmoml.catalog import (
    PhotometryFeatures,
    read_columns,
    read_table,
    resolve_columns,
    write_table,
)
from cosmoml.catalog.features import NONDETECTION_ERR, nondetected
from cosmoml.errors import CatalogError, ConfigError
from tests.conftest import BANDS, synthetic_catalog


@pytest.fixture
def small():
    return synthetic_catalog(50, seed=3)


@pytest.mark.parametrize("suffix", [".parquet", ".hdf5", ".fits", ".csv"])
def test_round_trip_each_format(tmp_path, small, suffix):
    path = tmp_path / f"cat{suffix}"
    if suffix == ".fits":
        Table.from_pandas(small).write(path)
    elif suffix == ".csv":
        small.to_csv(path, index=False)
    else:
        write_table(small, path)
    back = read_table(path)
    assert list(back.columns) == list(small.columns)
    np.testing.assert_allclose(back["redshift"], small["redshift"])
    assert read_columns(path) == list(small.columns)
    sub = read_table(path, ["redshift", "id"])
    assert list(sub.columns) == ["redshift", "id"]


def test_hdf5_rail_photometry_group(tmp_path, small):
    path = tmp_path / "rail.hdf5"
    write_table(small, path, group="photometry")
    with h5py.File(path) as f:
        assert "photometry/mag_u_lsst" in f
    back = read_table(path)  # auto-detects the group
    np.testing.assert_allclose(back["mag_i_lsst"], small["mag_i_lsst"])
    with pytest.raises(CatalogError, match="no HDF5 group 'nope'"):
        read_table(path, group="nope")


def test_bad_files_are_named(tmp_path, small):
    with pytest.raises(CatalogError, match="no such file"):
        read_table(tmp_path / "missing.parquet")
    (tmp_path / "x.xlsx").write_bytes(b"PK")
    with pytest.raises(CatalogError, match="x.xlsx: unknown catalogue format"):
        read_table(tmp_path / "x.xlsx")
    bad = tmp_path / "corrupt.parquet"
    bad.write_bytes(b"not a parquet file")
    with pytest.raises(CatalogError, match="corrupt.parquet: cannot be read as parquet"):
        read_table(bad)
    good = tmp_path / "ok.parquet"
    small.to_parquet(good)
    with pytest.raises(CatalogError, match=r"ok.parquet: missing column\(s\) \['mag_q'\]"):
        read_table(good, ["mag_q"])
    h5 = tmp_path / "ragged.hdf5"
    with h5py.File(h5, "w") as f:
        f["a"] = np.arange(3)
        f["b"] = np.arange(4)
    with pytest.raises(CatalogError, match="ragged.hdf5: column 'b' has 4 rows"):
        read_table(h5)


def test_write_is_atomic_on_failure(tmp_path):
    class Boom:
        pass

    df = pd.DataFrame({"a": [Boom()]})
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises
        write_table(df, tmp_path / "out.parquet")
    assert list(tmp_path.iterdir()) == []


def test_auto_detect_dc2_and_plain_names(small):
    cols = resolve_columns(small.columns, need_z=True)
    assert cols.bands == BANDS
    assert cols.mag_pattern == "mag_{band}_lsst" and cols.err_pattern == "mag_err_{band}_lsst"
    assert cols.z_column == "redshift" and cols.id_column == "id"
    plain = ["id", "redshift", *BANDS, *[f"{b}_err" for b in BANDS]]
    c2 = resolve_columns(plain, need_z=True)
    assert c2.mag_pattern == "{band}" and c2.err_pattern == "{band}_err" and c2.bands == BANDS


def test_ambiguous_and_missing_columns_are_errors():
    cols = ["mag_g", "mag_r", "mag_i", "g", "r", "i", "redshift"]
    with pytest.raises(CatalogError, match="ambiguous magnitude columns.*--mag-pattern"):
        resolve_columns(cols, "f.parquet")
    ok = resolve_columns(cols, "f.parquet", mag_pattern="mag_{band}")
    assert ok.bands == ["g", "r", "i"] and ok.err_pattern is None
    with pytest.raises(CatalogError, match=r"f.parquet: missing magnitude column\(s\) \['mag_z'\]"):
        resolve_columns(cols, "f.parquet", bands=["g", "z"], mag_pattern="mag_{band}")
    with pytest.raises(CatalogError, match="no redshift column"):
        resolve_columns(["g", "r"], "f.parquet", need_z=True)
    with pytest.raises(CatalogError, match="no magnitude columns"):
        resolve_columns(["a", "b"], "f.parquet")


def test_nondetection_sentinels():
    m = np.array([[99.0, -99.0, np.nan, np.inf, 24.0, -np.inf]])
    assert nondetected(m).tolist() == [[True, True, True, True, False, True]]


def _mags():
    m = np.array(
        [[22.0, 21.5, 21.0], [99.0, 22.5, 22.0], [23.0, 23.1, np.nan], [99.0, -99.0, np.inf]]
    )
    e = np.full_like(m, 0.05)
    return m, e


def test_policy_limit_replaces_with_learned_limit():
    m, e = _mags()
    f = PhotometryFeatures(["g", "r", "i"], policy="limit", use_errors=True).fit(m, e)
    assert f.limits_.tolist() == [23.0, 23.1, 22.0]
    X, valid = f.transform(m, e)
    assert valid.tolist() == [True, True, True, False]  # no detection at all: flagged
    assert X[1, 0] == 23.0 and X[2, 2] == 22.0
    assert X[1, 3] == pytest.approx(23.0 - 22.5)  # g-r uses the limit
    n_feat = 3 + 2
    assert X[1, n_feat + 0] == pytest.approx(NONDETECTION_ERR)
    assert X[0, n_feat + 3] == pytest.approx(np.hypot(0.05, 0.05))  # colour error
    assert np.isnan(X[3]).all()


def test_policy_drop_and_nan():
    m, _ = _mags()
    _, vd = PhotometryFeatures(["g", "r", "i"], policy="drop").fit(m).transform(m)
    assert vd.tolist() == [True, False, False, False]
    Xn, vn = PhotometryFeatures(["g", "r", "i"], policy="nan").fit(m).transform(m)
    assert vn.tolist() == [True, True, True, False]
    assert np.isnan(Xn[1, 0]) and np.isnan(Xn[1, 3]) and not np.isnan(Xn[1, 4])


def test_given_limits_and_bad_policy():
    m, _ = _mags()
    f = PhotometryFeatures(["g", "r", "i"], limits={"g": 25.0}).fit(m)
    assert f.limits_[0] == 25.0
    with pytest.raises(ConfigError, match="policy 'zero'"):
        PhotometryFeatures(["g", "r", "i"], policy="zero").fit(m)
    with pytest.raises(ConfigError, match=r"shape \(n, 3\)"):
        PhotometryFeatures(["g", "r", "i"]).fit(m[:, :2])


def test_reference_magnitude_features():
    m, _ = _mags()
    f = PhotometryFeatures(["g", "r", "i"], magnitudes="reference").fit(m)
    assert f.feature_names == ["mag_i", "g-r", "r-i"]
    X, _ = f.transform(m)
    assert X.shape == (4, 3)


def test_tables_in_python_are_accepted_at_the_edges():
    """An astropy Table (masked values as NaN, a vector column left out), a pyarrow Table,
    a structured array or a dict give what the DataFrame gives; anything else is named."""
    import pyarrow as pa

    from cosmoml.catalog import as_frame
    from cosmoml.model import PhotoZModel

    train, test = synthetic_catalog(600, seed=1), synthetic_catalog(80, seed=2)
    cols = resolve_columns(train.columns, need_z=True)
    t = Table.from_pandas(train)
    t["sed"] = np.zeros((len(t), 3))  # a vector column: not photometry, left out
    model = PhotoZModel("knn").fit(t, cols)
    reference = PhotoZModel("knn").fit(train, cols)
    want = reference.predict_frame(test)["z_median"].to_numpy()
    for table in (Table.from_pandas(test), pa.Table.from_pandas(test),
                  test.to_records(index=False), test.to_dict("list")):
        got = model.predict_frame(table)["z_median"].to_numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=0)
    masked = Table(Table.from_pandas(test), masked=True)
    masked["mag_u_lsst"].mask[:3] = True  # masked = not measured: a non-detection
    flags = model.predict_frame(masked)["flag"].to_numpy()
    assert flags[:3].tolist() == [2, 2, 2] and (flags[3:] == 0).all()
    assert np.isnan(as_frame(masked)["mag_u_lsst"][:3]).all()
    from cosmoml.nz.pipeline import shift_features

    for a, b in zip(shift_features(t, Table.from_pandas(test), cols)[:3],
                    shift_features(train, test, cols)[:3], strict=True):
        np.testing.assert_array_equal(a, b)
    # a pyarrow Table's integer column with nulls stays integer (64-bit ids exact)
    ids = pa.array([2**62 + 1, None, 2**62 + 3], pa.int64())
    got = as_frame(pa.table({"id": ids}))["id"]
    assert got.dtype == "Int64" and got[0] == 2**62 + 1 and pd.isna(got[1])
    with pytest.raises(CatalogError, match="spec.txt: a list is not a table"):
        as_frame([1, 2], "spec.txt")


def test_fits_columns_rows_scaling_and_nulls(tmp_path):
    """FITS is read by rows and columns from the memory-mapped file: unsigned 64-bit ids
    (TZERO-scaled) exact, an integer column's TNULL values missing (64-bit ids with nulls
    still exact), text decoded, a vector column left out of the listing; a gzipped file
    read as a stream gives the same values and types (its table found behind image HDUs
    from the headers alone); CSV's header read alone."""
    import gzip

    from astropy.io import fits
    from astropy.table import MaskedColumn

    from cosmoml.catalog.io import fits_rows, iter_fits_rows, read_fits_rows

    n = 500
    t = Table()
    t["id"] = np.arange(n, dtype=np.uint64) + np.uint64(2**63)
    t["mag"] = np.linspace(20, 25, n)
    t["flag"] = MaskedColumn(np.arange(n) % 5, mask=np.arange(n) % 7 == 0)
    big = np.arange(n, dtype=np.int64) + 2**62 + 1  # not representable as float64
    t["big"] = MaskedColumn(big, mask=np.arange(n) == 101)
    t["name"] = [f"g{i}" for i in range(n)]
    t["sed"] = np.zeros((n, 3))
    t.write(tmp_path / "c.fits")
    assert read_columns(tmp_path / "c.fits") == ["id", "mag", "flag", "big", "name"]
    assert fits_rows(tmp_path / "c.fits") == n
    df = read_fits_rows(tmp_path / "c.fits", ["id", "flag", "big", "name"], 100, 110)
    assert df["id"].dtype == np.uint64 and (df["id"].to_numpy() == t["id"][100:110]).all()
    assert df["flag"].dtype == "Int64" and pd.isna(df["flag"][5]) and df["flag"][6] == 1
    assert df["big"].isna().tolist() == [False, True] + [False] * 8
    assert df["big"][0] == big[100] and df["big"][9] == big[109]  # exact
    assert df["name"].tolist() == [f"g{i}" for i in range(100, 110)]
    whole = read_table(tmp_path / "c.fits")
    assert list(whole.columns) == ["id", "mag", "flag", "big", "name"] and len(whole) == n
    np.testing.assert_array_equal(whole["mag"], t["mag"])
    with pytest.raises(CatalogError, match=r"c.fits: column 'sed' has more than one value"):
        read_table(tmp_path / "c.fits", ["sed"])
    with pytest.raises(CatalogError, match=r"c.fits: missing column\(s\) \['nope'\]"):
        read_table(tmp_path / "c.fits", ["nope"])
    # every scalar column type as astropy reads it, whole and in row ranges, mapped or not
    rng = np.random.default_rng(1)
    types = Table({dt: rng.integers(0, 100, n).astype(dt) for dt in
                   ("u1", "i2", "u2", "i4", "u4", "i8", "u8")})
    types["f4"] = rng.normal(size=n).astype("f4")
    types["f8"] = rng.normal(size=n)
    types["f8"][3] = np.nan
    types["b"] = rng.random(n) > 0.5
    types["m"] = MaskedColumn(rng.integers(0, 9, n).astype("i4"), mask=rng.random(n) < 0.2)
    types.write(tmp_path / "t.fits")
    types.write(tmp_path / "t.fits.gz")
    with fits.open(tmp_path / "t.fits") as f:  # a scaled column (TSCAL/TZERO), by hand
        scaled = fits.BinTableHDU.from_columns([fits.Column(name="sc", format="I",
                                                            array=np.arange(n, dtype="i2"))])
        scaled.header["TSCAL1"], scaled.header["TZERO1"] = 0.01, 10.0
        fits.HDUList([f[0], scaled]).writeto(tmp_path / "s.fits")
    for name in ("t.fits", "t.fits.gz", "s.fits"):
        ref = Table.read(tmp_path / name)
        for lo, hi in ((0, None), (17, 123), (n - 1, n), (5, 5)):
            got = read_fits_rows(tmp_path / name, None, lo, hi)
            assert list(got.columns) == ref.colnames
            for c in ref.colnames:
                want, g = ref[c][lo:hi], got[c]
                masked = getattr(want, "mask", None) is not None and np.any(want.mask)
                if masked and want.dtype.kind == "f":  # astropy masks NaN: NaN here
                    want = want.filled(np.nan)
                elif masked:  # missing where astropy masks; the rest as stored, same kind
                    assert g.dtype.numpy_dtype == want.dtype.newbyteorder("="), (name, c)
                    np.testing.assert_array_equal(g.isna().to_numpy(), want.mask)
                    g, want = g[~want.mask].to_numpy(dtype=want.dtype.newbyteorder("=")), \
                        want.data[~want.mask]
                want = np.asarray(want)
                np.testing.assert_array_equal(np.asarray(g), want, err_msg=f"{name} {c}")
                assert np.asarray(g).dtype == want.dtype.newbyteorder("="), (name, c)
    (tmp_path / "s.fits.gz").write_bytes(gzip.compress((tmp_path / "s.fits").read_bytes()))
    fits.HDUList([fits.PrimaryHDU(np.ones((3, 5), "i2")), fits.ImageHDU(np.ones(11)),
                  fits.table_to_hdu(types)]).writeto(tmp_path / "img.fits.gz")
    for name, plain in (("t.fits.gz", "t.fits"), ("s.fits.gz", "s.fits"),
                        ("img.fits.gz", "t.fits")):
        whole = read_fits_rows(tmp_path / plain)
        assert fits_rows(tmp_path / name) == n
        assert read_columns(tmp_path / name) == list(whole.columns)
        chunks = list(iter_fits_rows(tmp_path / name, list(whole.columns), 120))
        assert [len(c) for c in chunks] == [120] * 4 + [20]
        pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
        pd.testing.assert_frame_equal(read_table(tmp_path / name), whole)  # streamed too
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_csv(tmp_path / "c.csv", index=False)
    assert read_columns(tmp_path / "c.csv") == ["a", "b"]
    assert list(read_table(tmp_path / "c.csv", ["b"]).columns) == ["b"]
