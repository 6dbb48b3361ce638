"""The local streaming engine: chunking, ordering, resume, changed inputs, bad parts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cosmoml.catalog import resolve_columns
from cosmoml.catalog.features import nondetected
from cosmoml.catalog.io import write_table
from cosmoml.datasets import load_dc2
from cosmoml.engine import MANIFEST, expand_inputs, plan_parts, run_predict
from cosmoml.errors import CatalogError
from cosmoml.model import PhotoZModel


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("engine")
    train = load_dc2("training", n=1500)
    model = PhotoZModel("knn").fit(train, resolve_columns(train.columns, need_z=True))
    model.save(d / "m.cosmoml")
    photo = load_dc2("validation", n=3000).drop(columns="redshift")
    inp = d / "in"
    inp.mkdir()
    for k in range(3):  # a dataset of three files, row groups of 400 rows
        pq.write_table(pa.Table.from_pandas(photo.iloc[k * 1000 : (k + 1) * 1000],
                                               preserve_index=False),
                       inp / f"cat_{k}.parquet", row_group_size=400)
    return d, model, photo


def read_dataset(out):
    files = sorted(out.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def test_parts_follow_row_groups_and_files(setup):
    d, _, _ = setup
    files = expand_inputs(d / "in")
    assert [f.name for f in files] == ["cat_0.parquet", "cat_1.parquet", "cat_2.parquet"]
    parts = plan_parts(files, part_rows=700)
    # 400 + 400 >= 700, then the last group (200) closes the file
    assert [(p.row_start, p.row_end) for p in parts[:2]] == [(0, 800), (800, 1000)]
    assert sum(p.n_rows for p in parts) == 3000 and [p.index for p in parts] == list(range(6))
    assert expand_inputs(str(d / "in" / "cat_[01].parquet")) == files[:2]
    with pytest.raises(CatalogError, match="no catalogue files match"):
        expand_inputs(str(d / "nothing*.parquet"))


def test_streamed_equals_whole_file_in_order(setup, tmp_path):
    d, model, photo = setup
    res = run_predict(d / "m.cosmoml", d / "in", tmp_path, chunk_size=256, part_rows=700)
    assert res["complete"] and res["input_rows"] == res["output_rows"] == 3000
    got = read_dataset(tmp_path)
    want = model.predict_frame(photo)
    np.testing.assert_array_equal(got["id"], photo["id"])
    for col in ("z_mode", "z_mean", "z_median", "z_lo68", "z_hi68", "flag"):
        np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy(), err_msg=col)
    np.testing.assert_array_equal(np.stack(got["pdf"]), np.stack(want["pdf"]))
    meta = pq.read_schema(sorted(tmp_path.glob("part-*.parquet"))[0]).metadata
    assert json.loads(meta[b"grid"]) == [0.0, 3.0, 301]


def test_nn_predictions_do_not_depend_on_chunks_or_threads(setup, tmp_path):
    d, _, photo = setup
    train = load_dc2("training", n=1500)
    model = PhotoZModel("nn-fast", estimator_params={"epochs": 3}).fit(
        train, resolve_columns(train.columns, need_z=True))
    model.save(tmp_path / "nn.cosmoml")
    want = model.predict_frame(photo)  # whole file, this process's default threads
    for k, (chunk, part_rows, threads) in enumerate([(4097, 1000, 2), (333, 400, 1)]):
        run_predict(tmp_path / "nn.cosmoml", d / "in", tmp_path / f"o{k}", chunk_size=chunk,
                    part_rows=part_rows, threads=threads)
        got = read_dataset(tmp_path / f"o{k}")
        np.testing.assert_array_equal(np.stack(got["pdf"]), np.stack(want["pdf"]))
        for col in ("z_mode", "z_mean", "z_median", "z_lo68", "z_hi68", "z_std", "flag"):
            np.testing.assert_array_equal(got[col], want[col], err_msg=col)


def test_interrupted_run_resumes_to_identical_bytes(setup, tmp_path):
    d, _, _ = setup
    ref = tmp_path / "ref"
    run_predict(d / "m.cosmoml", d / "in", ref, chunk_size=300, part_rows=700)

    class Killed(Exception):
        pass

    def kill_after_two(done, total):
        if done == 2:
            raise Killed

    out = tmp_path / "resumed"
    with pytest.raises(Killed):
        run_predict(d / "m.cosmoml", d / "in", out, chunk_size=300, part_rows=700,
                    progress=kill_after_two)
    # parts already in flight finish (atomically) but are not in the manifest
    assert len(list(out.glob("part-*.parquet"))) >= 2
    (out / ".part-000002.parquet.x.tmp").write_bytes(b"half a file")  # a killed write
    res = run_predict(d / "m.cosmoml", d / "in", out, chunk_size=300, part_rows=700)
    assert [p.get("resumed", False) for p in res["parts"]] == [True, True] + [False] * 4
    assert not list(out.glob(".*.tmp"))
    names = sorted(f.name for f in ref.glob("part-*.parquet"))
    assert names == sorted(f.name for f in out.glob("part-*.parquet"))
    for name in names:
        assert (ref / name).read_bytes() == (out / name).read_bytes(), name


def test_changed_input_part_is_recomputed(setup, tmp_path):
    d, _, photo = setup
    inp = tmp_path / "in"
    inp.mkdir()
    for k in range(2):
        photo.iloc[k * 500 : (k + 1) * 500].to_parquet(inp / f"c{k}.parquet")
    out = tmp_path / "out"
    run_predict(d / "m.cosmoml", inp, out)
    changed = photo.iloc[500:1000].copy()
    changed["mag_r_lsst"] += 0.5
    changed.to_parquet(inp / "c1.parquet")
    res = run_predict(d / "m.cosmoml", inp, out)
    assert [p.get("resumed", False) for p in res["parts"]] == [True, False]
    again = run_predict(d / "m.cosmoml", inp, out)
    assert all(p["resumed"] for p in again["parts"])


def test_bad_rows_are_flagged_and_bad_parts_stop_or_are_skipped(setup, tmp_path):
    d, _, photo = setup
    inp = tmp_path / "in"
    inp.mkdir()
    good = photo.iloc[:500].copy()
    good["mag_g_lsst"] = good["mag_g_lsst"].astype(str)  # text, as from a bad export
    good.loc[good.index[3], "mag_g_lsst"] = "bright"  # one malformed row
    good.loc[good.index[4], [f"mag_{b}_lsst" for b in "ugrizy"]] = np.nan  # NaN everywhere
    good.loc[good.index[5], "mag_i_lsst"] = -999.0  # a sentinel in other units
    good.to_parquet(inp / "a.parquet")
    bad = photo.iloc[500:800].copy()
    bad["mag_r_lsst"] = "n/a"  # a column without a single number: a malformed part
    bad.to_parquet(inp / "b.parquet")
    photo.iloc[800:1000].to_parquet(inp / "c.parquet")
    (inp / "d.parquet").write_bytes(b"PAR1 this is not parquet")  # a corrupt file
    with pytest.raises(CatalogError, match=r"b\.parquet.*mag_r_lsst.*holds no numbers"):
        run_predict(d / "m.cosmoml", str(inp / "[abc].parquet"), tmp_path / "stop")
    with pytest.raises(CatalogError, match=r"d\.parquet"):  # named when the run is planned
        run_predict(d / "m.cosmoml", inp, tmp_path / "stop")
    res = run_predict(d / "m.cosmoml", inp, tmp_path / "skip", skip_bad_parts=True)
    status = [p["status"] for p in res["parts"]]
    assert status == ["done", "failed", "done", "failed"] and "n/a" in res["parts"][1]["error"]
    assert res["unreadable_files"] == [str(inp / "d.parquet")] and res["parts"][3]["error"]
    assert res["output_rows"] == 700 and res["failed_rows"] == 300 and not res["complete"]
    assert res["output_rows"] + res["failed_rows"] == res["input_rows"] == 1000
    # DC2 has real non-detections (99) too; ours add three rows
    kept = pd.concat([photo.iloc[:500], photo.iloc[800:1000]])
    natural = nondetected(kept[[f"mag_{b}_lsst" for b in "ugrizy"]]).any(axis=1)
    assert not natural[3:6].any()
    want = {"no_pdf": 1, "nondetection": int(natural.sum()) + 3, "bad_value": 1}
    assert res["flagged_rows"] == want
    got = read_dataset(tmp_path / "skip")
    assert got["flag"].iloc[3:6].tolist() == [6, 3, 2]
    assert (got["flag"].to_numpy() == np.where(natural, 2, 0))[np.r_[0:3, 6:700]].all()
    assert np.isfinite(got["z_median"].iloc[[3, 5]]).all() and np.isnan(got["z_median"].iloc[4])
    np.testing.assert_array_equal(got["id"], np.r_[photo["id"].iloc[:500],
                                                   photo["id"].iloc[800:1000]])
    manifest = json.loads((tmp_path / "skip" / MANIFEST).read_text())
    assert manifest["failed_rows"] == 300 and manifest["parts"][0]["flagged"]["bad_value"] == 1
    assert not (tmp_path / "skip" / "part-000001.parquet").exists()
    # strict mode: the malformed row stops its part instead
    with pytest.raises(CatalogError, match=r"a\.parquet.*mag_g_lsst.*'bright'"):
        run_predict(d / "m.cosmoml", inp / "a.parquet", tmp_path / "strict", bad_values="raise")
    assert not list((tmp_path / "strict").glob("*.parquet"))


def test_hdf5_input_is_sliced(setup, tmp_path):
    d, model, photo = setup
    write_table(photo.iloc[:1000], tmp_path / "cat.hdf5")
    res = run_predict(d / "m.cosmoml", tmp_path / "cat.hdf5", tmp_path / "o", chunk_size=128,
                      part_rows=300)
    assert len(res["parts"]) == 4 and res["output_rows"] == 1000
    got = read_dataset(tmp_path / "o")
    np.testing.assert_array_equal(got["z_median"], model.predict_frame(photo.iloc[:1000])[
        "z_median"])


def test_cli_streams_to_a_directory_and_resumes(setup, tmp_path):
    from .test_cli import run

    d, _, _ = setup
    out = tmp_path / "ds"
    args = ("predict", d / "m.cosmoml", str(d / "in" / "*.parquet"), "--output", out,
            "--part-rows", "700", "-q")
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert "3,000 rows in 6 part(s) (0 resumed" in r.stdout
    r = run(*args)
    assert r.returncode == 0 and "(6 resumed" in r.stdout
    assert len(read_dataset(out)) == 3000


def test_compact_pdf_encodings_are_faithful(setup, tmp_path):
    from cosmoml.pdf import PDFs, make_grid
    from cosmoml.pdf_codec import decode, fidelity

    d, _, _ = setup
    res = run_predict(d / "m.cosmoml", d / "in", tmp_path / "q", pdf_encoding="quantiles:32")
    got = read_dataset(tmp_path / "q")
    assert "pdf" not in got and len(got["pdf_quantiles"].iloc[0]) == 32
    assert res["settings"]["pdf_encoding"] == "quantiles:32"
    run_predict(d / "m.cosmoml", d / "in", tmp_path / "h", pdf_encoding="float16")
    schema = pq.read_schema(sorted((tmp_path / "h").glob("part-*.parquet"))[0])
    assert str(schema.field("pdf").type) == "fixed_size_list<element: halffloat>[301]"
    # Gaussian PDFs (some truncated at z = 0) keep their means and widths through 32
    # quantiles
    grid = make_grid(0, 3, 301)
    rng = np.random.default_rng(0)
    mu, sig = rng.uniform(0.3, 2.0, 500), rng.uniform(0.03, 0.2, 500)
    pdfs = PDFs(grid, np.exp(-0.5 * ((grid - mu[:, None]) / sig[:, None]) ** 2))
    back = decode(pdfs.quantile((np.arange(32) + 0.5) / 32), grid, "quantiles:32")
    np.testing.assert_allclose(back.mean(), pdfs.mean(), atol=0.003)
    np.testing.assert_allclose(back.std(), pdfs.std(), rtol=0.05, atol=0.003)
    f = fidelity(pdfs, mu + sig * rng.standard_normal(500), "quantiles:32")
    assert f["bytes_per_galaxy"] == 128 and abs(f["crps_rel_change"]) < 0.01
    assert f["max_nz_mean_shift"] < 0.001
    with pytest.raises(Exception, match="unknown PDF encoding"):
        run_predict(d / "m.cosmoml", d / "in", tmp_path / "x", pdf_encoding="jpeg")


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_dask_local_cluster_equals_local_engine(setup, tmp_path, processes):
    pytest.importorskip("dask.distributed")
    import torch

    d, _, _ = setup
    ref = tmp_path / "local"
    run_predict(d / "m.cosmoml", d / "in", ref, chunk_size=300, part_rows=700)
    out = tmp_path / "dask"
    threads_before = torch.get_num_threads()
    res = run_predict(d / "m.cosmoml", d / "in", out, chunk_size=300, part_rows=700,
                      engine="dask", workers=2, dask_processes=processes)
    assert torch.get_num_threads() == threads_before  # in-process workers restore it
    assert [p["index"] for p in res["parts"]] == list(range(6)) and res["complete"]
    # byte-identical parts, whether the workers are threads or processes
    names = sorted(f.name for f in ref.glob("part-*.parquet"))
    for name in names:
        assert (ref / name).read_bytes() == (out / name).read_bytes(), name
    # a resumed Dask run recomputes nothing
    again = run_predict(d / "m.cosmoml", d / "in", out, chunk_size=300, part_rows=700,
                        engine="dask", workers=2, dask_processes=processes)
    assert all(p["resumed"] for p in again["parts"])


def test_subprocess_killed_at_random_moments_resumes_to_identical_bytes(setup, tmp_path):
    """SIGKILL a real prediction process three times at random moments mid-run; the
    resumed result loses and duplicates nothing and is byte-identical to a clean run."""
    import signal
    import subprocess
    import sys
    import time

    d, _, photo = setup
    kw = dict(chunk_size=50, part_rows=100)
    ref = tmp_path / "ref"
    run_predict(d / "m.cosmoml", d / "in", ref, **kw)  # 9 parts: one per row group
    n_parts = len(list(ref.glob("part-*.parquet")))
    out = tmp_path / "killed"
    script = (f"from cosmoml.engine import run_predict; run_predict({str(d / 'm.cosmoml')!r}, "
              f"{str(d / 'in')!r}, {str(out)!r}, chunk_size=50, part_rows=100)")
    rng = np.random.default_rng()  # a random moment each time
    kills = 0
    for _ in range(3):
        started = time.time()
        proc = subprocess.Popen([sys.executable, "-c", script])
        target = int(rng.integers(1, n_parts - 1))
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            try:  # parts this process finished (not a previous run's manifest)
                fresh = (out / MANIFEST).stat().st_mtime > started
                done = fresh * sum(p["status"] == "done" and not p.get("resumed")
                                   for p in json.loads((out / MANIFEST).read_text())["parts"])
            except (FileNotFoundError, ValueError, KeyError):
                done = 0
            if done >= target:
                time.sleep(rng.uniform(0, 0.05))  # anywhere inside the next part
                break
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += proc.wait() == -signal.SIGKILL
        else:
            proc.wait()
    assert kills >= 1  # at least one run really died mid-way
    res = run_predict(d / "m.cosmoml", d / "in", out, **kw)
    assert res["complete"] and res["output_rows"] == res["input_rows"] == len(photo)
    assert not list(out.glob(".*.tmp"))
    names = sorted(f.name for f in ref.glob("part-*.parquet"))
    assert names == sorted(f.name for f in out.glob("part-*.parquet"))
    for name in names:
        assert (ref / name).read_bytes() == (out / name).read_bytes(), name
    np.testing.assert_array_equal(read_dataset(out)["id"], photo["id"])


def test_hats_catalogue_input(setup, tmp_path):
    """A HATS catalogue written by LSDB is read partition by partition, in HEALPix order."""
    lsdb = pytest.importorskip("lsdb")
    d, model, photo = setup
    rng = np.random.default_rng(0)
    sky = photo.assign(ra=rng.uniform(0, 360, len(photo)),
                       dec=np.degrees(np.arcsin(rng.uniform(-1, 1, len(photo)))))
    lsdb.from_dataframe(sky, ra_column="ra", dec_column="dec", catalog_name="photo",
                        lowest_order=0, highest_order=3, partition_rows=600).write_catalog(
        tmp_path / "photo")
    files = expand_inputs(tmp_path / "photo")
    assert len(files) > 3 and all(f.name.startswith("Npix=") for f in files)
    res = run_predict(d / "m.cosmoml", tmp_path / "photo", tmp_path / "out", threads=1)
    assert res["complete"] and res["output_rows"] == len(photo)
    got = read_dataset(tmp_path / "out")
    want_ids = np.concatenate([pd.read_parquet(f, columns=["id"])["id"] for f in files])
    np.testing.assert_array_equal(got["id"], want_ids)  # partition order, rows in order
    assert sorted(got["id"]) == sorted(photo["id"])  # every galaxy once
    ref = model.predict_frame(photo.set_index("id").loc[got["id"]].reset_index())
    np.testing.assert_array_equal(got["z_median"], ref["z_median"])


def test_fits_input_is_sliced(setup, tmp_path, forbid_whole_reads):
    """A FITS catalogue is predicted in row-range parts, like HDF5 (a .fits.gz is one part,
    read as a stream, never whole); 64-bit ids with nulls (TNULL) come out exact, the
    nulls missing."""
    from astropy.table import MaskedColumn, Table

    d, model, photo = setup
    t = Table.from_pandas(photo.iloc[:1000])
    big = np.arange(1000, dtype=np.int64) + 2**62 + 1  # not representable as float64
    t["id"] = MaskedColumn(big, mask=np.arange(1000) % 250 == 7)
    t.write(tmp_path / "cat.fits")
    want = model.predict_frame(photo.iloc[:1000])["z_median"]
    res = run_predict(d / "m.cosmoml", tmp_path / "cat.fits", tmp_path / "o", chunk_size=128,
                      part_rows=300)
    assert len(res["parts"]) == 4 and res["output_rows"] == 1000
    got = read_dataset(tmp_path / "o")
    np.testing.assert_array_equal(got["z_median"], want)
    assert got["id"].isna().sum() == 4 and got["id"][8] == big[8]
    assert (got["id"][~t["id"].mask] == big[~t["id"].mask]).all()
    t.write(tmp_path / "cat.fits.gz")
    from cosmoml.catalog.io import read_table
    from cosmoml.engine.parts import read_part

    whole = read_table(tmp_path / "cat.fits.gz")
    forbid_whole_reads("cat.fits.gz")
    res = run_predict(d / "m.cosmoml", tmp_path / "cat.fits.gz", tmp_path / "gz",
                      chunk_size=128, part_rows=300)
    assert len(res["parts"]) == 1 and res["output_rows"] == 1000
    got = read_dataset(tmp_path / "gz")
    np.testing.assert_array_equal(got["z_median"], want)
    assert got["id"].isna().sum() == 4 and got["id"][8] == big[8]
    (part,) = plan_parts([tmp_path / "cat.fits.gz"], part_rows=300)
    chunks = list(read_part(part, list(whole.columns), 128))
    assert [len(c) for c in chunks] == [128] * 7 + [104]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    # a table cut short: an error naming the file
    data = (tmp_path / "cat.fits").read_bytes()
    import gzip

    (tmp_path / "cut.fits.gz").write_bytes(gzip.compress(data[: len(data) // 2]))
    with pytest.raises(CatalogError, match=r"cut\.fits\.gz: its table ends after \d+ of the "
                       r"1000 rows"):
        list(read_part(plan_parts([tmp_path / "cut.fits.gz"])[0], ["id"], 128))


def test_csv_input_is_split_into_byte_ranges(setup, tmp_path, monkeypatch):
    """A CSV file is split into parts of whole lines (comments and blank lines skipped, the
    header kept for each), with the rows read whole; one with quotes is one part. A row
    with a field too many or too few is an error, split or read whole."""
    from cosmoml.catalog.io import read_table
    from cosmoml.engine.parts import plan_parts, read_part

    d, model, photo = setup
    cat = photo.iloc[:1000].reset_index(drop=True)
    text = cat.to_csv(index=False, lineterminator="\n").splitlines(keepends=True)
    # a comment before the header, a blank line and a comment among the rows
    lines = ["# made by a test\n", text[0], *text[1:400], "\n", "# a note\n", *text[400:]]
    (tmp_path / "cat.csv").write_text("".join(lines))
    parts = plan_parts([tmp_path / "cat.csv"], part_rows=300, columns=["id"])
    assert [(p.row_start, p.row_end) for p in parts] == [(0, 300), (300, 600), (600, 900),
                                                          (900, 1000)]
    cols = list(cat.columns)
    got = pd.concat([df for p in parts for df in read_part(p, cols, 128)], ignore_index=True)
    pd.testing.assert_frame_equal(got, read_table(tmp_path / "cat.csv"), check_dtype=False)
    np.testing.assert_allclose(got[cols[1]], cat[cols[1]])
    res = run_predict(d / "m.cosmoml", tmp_path / "cat.csv", tmp_path / "o", chunk_size=128,
                      part_rows=300)
    assert len(res["parts"]) == 4 and res["output_rows"] == 1000
    np.testing.assert_array_equal(read_dataset(tmp_path / "o")["z_median"],
                                  model.predict_frame(read_table(tmp_path / "cat.csv"))[
                                      "z_median"])
    # the scan in small blocks (a line cut between two), Windows line ends, no final one
    from cosmoml.catalog import io as io_module

    monkeypatch.setattr(io_module, "_CSV_SCAN", 37)
    assert plan_parts([tmp_path / "cat.csv"], part_rows=300, columns=["id"]) == parts
    (tmp_path / "crlf.csv").write_bytes("".join(lines).replace("\n", "\r\n")
                                        .rstrip("\r\n").encode())
    crlf = plan_parts([tmp_path / "crlf.csv"], part_rows=300)
    assert [p.n_rows for p in crlf] == [300, 300, 300, 100]
    got = pd.concat([df for p in crlf for df in read_part(p, cols, 128)], ignore_index=True)
    pd.testing.assert_frame_equal(got, read_table(tmp_path / "cat.csv"), check_dtype=False)
    # a row with a field more or less than the header (pandas, reading some columns, would
    # take it silently): an error naming the row and its line, whatever the scan's blocks
    for extra, match in ((",9.5", r"row 500 \(line 505\) has 14 comma-separated fields, "
                          r"the header 13 \(1 such row\(s\)\); a comma inside"),
                         (None, r"row 500 \(line 505\) has 12 .* a value missing")):
        bad = list(lines)
        row = bad[504]
        bad[504] = row.rstrip("\n") + extra + "\n" if extra else row.split(",", 1)[1]
        (tmp_path / "bad.csv").write_text("".join(bad))
        for scan in (1 << 24, 37):  # one block, or the row cut between blocks
            monkeypatch.setattr(io_module, "_CSV_SCAN", scan)
            with pytest.raises(CatalogError, match=r"bad\.csv: " + match):
                plan_parts([tmp_path / "bad.csv"], part_rows=300)
            with pytest.raises(CatalogError, match=r"bad\.csv: " + match):
                read_table(tmp_path / "bad.csv", cols[:2])  # read whole too
    quoted = cat.assign(note="a, b")  # written in quotes: one part, read whole
    quoted.to_csv(tmp_path / "q.csv", index=False)
    (q,) = plan_parts([tmp_path / "q.csv"], part_rows=300)
    assert (q.row_start, q.row_end, q.byte_range) == (0, 1000, ())


def test_compressed_and_quoted_csv_are_read_as_a_stream(setup, tmp_path, forbid_whole_reads):
    """A gzipped CSV file, or one with quoted fields, is one part read in chunks of at most
    the chunk size, never whole (its rows counted by a streamed pass); the chunks have one
    type per column (64-bit ids with empty fields exact in every chunk), the same values as
    the whole file, and predictions equal to those of the whole file. A column of whole
    numbers that holds a decimal further on is an error naming the column and the row; a
    truncated file is an error naming it, and no output directory is made."""
    from cosmoml.catalog.io import read_table
    from cosmoml.engine.parts import read_part

    d, model, photo = setup
    big = np.arange(1000, dtype=np.int64) + 2**62 + 1
    cat = photo.iloc[:1000].drop(columns="id").assign(
        id=pd.array(np.where(np.arange(1000) % 300 == 250, None, big), dtype="Int64"))
    cat.to_csv(tmp_path / "cat.csv.gz", index=False)
    cat.assign(note="a, b").to_csv(tmp_path / "q.csv", index=False)  # quoted fields
    want = model.predict_frame(read_table(tmp_path / "cat.csv.gz"))["z_median"]
    cols = list(cat.columns)
    whole = {name: read_table(tmp_path / name, cols) for name in ("cat.csv.gz", "q.csv")}
    forbid_whole_reads("cat.csv.gz", "q.csv")
    for name in ("cat.csv.gz", "q.csv"):
        (part,) = plan_parts([tmp_path / name], part_rows=300)
        assert (part.row_start, part.row_end, part.byte_range) == (0, 1000, ())
        chunks = list(read_part(part, cols, 128))
        assert [len(c) for c in chunks] == [128] * 7 + [104]
        assert {str(c["id"].dtype) for c in chunks} == {"Int64"}
        assert {str(c[cols[0]].dtype) for c in chunks} == {"float64"}
        got = pd.concat(chunks, ignore_index=True)
        assert got["id"].to_list() == cat["id"].to_list()  # exact, nulls in place
        pd.testing.assert_frame_equal(got, whole[name])
        res = run_predict(d / "m.cosmoml", tmp_path / name, tmp_path / f"o_{name}",
                          chunk_size=128, part_rows=300)
        assert len(res["parts"]) == 1 and res["output_rows"] == 1000
        out = read_dataset(tmp_path / f"o_{name}")
        np.testing.assert_array_equal(out["z_median"], want)
        ids = pa.concat_tables([pq.read_table(f) for f in sorted(
            (tmp_path / f"o_{name}").glob("part-*.parquet"))]).column("id").to_pylist()
        assert ids == [None if pd.isna(v) else int(v) for v in cat["id"]]
    # whole numbers in the first chunks, a decimal in row 700: no silent change of type
    mixed = cat.assign(note="a, b", flux=np.arange(1000).astype(object))
    mixed.loc[700, "flux"] = 7.25
    mixed.to_csv(tmp_path / "m.csv.gz", index=False)
    (part,) = plan_parts([tmp_path / "m.csv.gz"])
    with pytest.raises(CatalogError, match=r"m\.csv\.gz: column 'flux' .* 7\.25 in row 700"):
        list(read_part(part, ["id", "flux"], 128))
    # a truncated file: an error naming it, and no output directory left behind
    data = (tmp_path / "cat.csv.gz").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CatalogError, match=r"cut\.csv\.gz: cannot be read as csv"):
        run_predict(d / "m.cosmoml", tmp_path / "cut.csv.gz", tmp_path / "o_cut")
    assert not (tmp_path / "o_cut").exists()


@pytest.mark.parametrize(("engine", "threads"), [("local", 1), ("local", 2), ("dask", None)])
def test_a_bad_part_in_strict_mode_leaves_no_parts_of_the_run(setup, tmp_path, engine,
                                                              threads):
    """A CSV split into parts, a text value in its third: the run stops naming it and the
    parts it had written (and those still running when it stopped) are removed."""
    d, _, photo = setup
    cat = photo.iloc[:1000].astype({"mag_g_lsst": object})
    cat.loc[700, "mag_g_lsst"] = "bright"
    cat.to_csv(tmp_path / "cat.csv", index=False)
    out = tmp_path / "o"
    with pytest.raises(CatalogError, match=r"part 2 .*cat\.csv.*'mag_g_lsst'.*'bright'"):
        run_predict(d / "m.cosmoml", tmp_path / "cat.csv", out, chunk_size=128,
                    part_rows=300, bad_values="raise", threads=threads, engine=engine)
    assert not list(out.glob("part-*")) and not list(out.glob(".*"))
    assert json.loads((out / MANIFEST).read_text())["parts"] == []



def test_csv_ids_with_empty_fields_stay_exact(setup, tmp_path):
    """A CSV id column of 64-bit integers with empty fields (pandas would parse it as
    float64, rounding ids beyond 2**53) is read as nullable Int64 and passed through
    exactly, whole and part by part; a column whose text is not all integers stays
    float."""
    from cosmoml.catalog.io import read_table

    d, _, photo = setup
    big = np.arange(600, dtype=np.int64) + 2**62 + 1
    cat = photo.iloc[:600].drop(columns="id").assign(
        id=pd.array(np.where(np.arange(600) % 100 == 3, None, big), dtype="Int64"))
    cat.to_csv(tmp_path / "cat.csv", index=False)
    whole = read_table(tmp_path / "cat.csv")
    assert whole["id"].dtype == "Int64" and whole["id"][4] == big[4]
    assert whole["id"].isna().sum() == 6
    run_predict(d / "m.cosmoml", tmp_path / "cat.csv", tmp_path / "o", part_rows=200)
    ids = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "o").glob(
        "part-*.parquet"))]).column("id").to_pylist()
    assert ids == [None if i % 100 == 3 else int(v) for i, v in enumerate(big)]
    # small whole numbers with empty fields, and a fraction beyond 2**53, stay float
    (tmp_path / "f.csv").write_text("id,x\n1,0.5\n,1.5\n9007199254740993.5,2.5\n")
    assert read_table(tmp_path / "f.csv")["id"].dtype == np.float64
    (tmp_path / "s.csv").write_text("id,x\n1,0.5\n,1.5\n3,2.5\n")
    assert read_table(tmp_path / "s.csv")["id"].dtype == np.float64


def test_parquet_ids_with_nulls_stay_exact(setup, tmp_path):
    """A parquet id column of 64-bit integers with nulls (pyarrow's to_pandas would make it
    float64) is read and passed through exactly, whole and part by part."""
    from cosmoml.catalog.io import read_table

    d, _, photo = setup
    big = np.arange(600, dtype=np.int64) + 2**62 + 1
    table = pa.Table.from_pandas(photo.iloc[:600].drop(columns="id"), preserve_index=False)
    table = table.append_column("id", pa.array(big, mask=np.arange(600) % 100 == 3))
    pq.write_table(table, tmp_path / "cat.parquet", row_group_size=200)
    whole = read_table(tmp_path / "cat.parquet")
    assert whole["id"].dtype == "Int64" and whole["id"][4] == big[4]
    run_predict(d / "m.cosmoml", tmp_path / "cat.parquet", tmp_path / "o", part_rows=200)
    ids = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "o").glob(
        "part-*.parquet"))]).column("id").to_pylist()
    assert ids == [None if i % 100 == 3 else int(v) for i, v in enumerate(big)]


def test_parts_name_a_missing_column_and_the_columns_there(tmp_path):
    """Planning or reading parts of parquet, HDF5 and FITS (plain or gzipped) files: a
    missing column (or an HDF5 group asked for as a column) is an error naming the file,
    the column and the file's columns."""
    import h5py
    from astropy.table import Table

    from cosmoml.engine.parts import read_part

    pq.write_table(pa.table({"a": np.arange(10.0)}), tmp_path / "p.parquet")
    with h5py.File(tmp_path / "h.h5", "w") as f:
        f["a"] = np.arange(10.0)
        f.create_group("sub")
    for name in ("f.fits", "f.fits.gz"):
        Table({"a": np.arange(10.0)}).write(tmp_path / name)
    for name in ("p.parquet", "h.h5", "f.fits", "f.fits.gz"):
        for col in ("nope", "sub"):
            with pytest.raises(CatalogError, match=rf"{name}: missing column\(s\) "
                               rf"\['{col}'\]; it has \['a'\]"):
                list(read_part(plan_parts([tmp_path / name], part_rows=5, columns=[col])[0],
                               [col], 5))
    parts = plan_parts([tmp_path / "p.parquet"], part_rows=5, columns=["a"])
    with pytest.raises(CatalogError,
                       match=r"p.parquet: missing column\(s\) \['b'\]; it has \['a'\]"):
        list(read_part(parts[0], ["b"], 5))
