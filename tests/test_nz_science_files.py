"""n(z) of a science catalogue read part by part (cosmoml.nz.science.ScienceFiles)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cosmoml.catalog.columns import ColumnMap
from cosmoml.errors import CatalogError, ConfigError
from cosmoml.nz import pipeline
from cosmoml.nz.pipeline import estimate_nz, shift_features
from cosmoml.nz.science import ScienceFiles
from cosmoml.shift import correct
from tests.test_nz_methods import COLS

SCI_COLS = ColumnMap(list("ugrizy"), "{band}", "{band}_err", id_column="id")
N = 3000


@pytest.fixture(scope="module")
def sci_file(shifted_samples, tmp_path_factory):
    """The first N science objects as parquet in row groups of 400 (8 groups)."""
    sci = shifted_samples[1].iloc[:N].reset_index(drop=True)
    path = tmp_path_factory.mktemp("sci") / "science.parquet"
    cols = ["id", *SCI_COLS.photometry_columns()]
    pq.write_table(pa.Table.from_pandas(sci[cols], preserve_index=False), path,
                   row_group_size=400)
    return path, sci


@pytest.mark.parametrize("method", ["none", "lima", "classifier", "som", "success"])
def test_coverage_rules_reproduce_the_corrections_flags(shifted_samples, method):
    """A catalogue read part by part gets its coverage flags from the correction's rule:
    on the science objects the correction saw, the rule gives exactly its flags."""
    train, sci = shifted_samples
    X_t, X_s, valid, _ = shift_features(train, sci.iloc[:4000], COLS)
    c = correct(method, X_t, X_s[valid], z_train=train["z_spec"].to_numpy())
    assert c.covered.mean() > 0.5 and (method == "som" or c.covered.mean() < 1)
    np.testing.assert_array_equal(c.covers(X_s[valid]), c.covered)
    if method == "som":  # the rule and the cells it goes through, in one evaluation
        covered, cells = c.covers_cells(X_s[valid])
        np.testing.assert_array_equal(covered, c.covered)
        np.testing.assert_array_equal(cells, c.info["cells_science"])
    else:
        assert c.covers_cells is None
    far = X_s[valid][:50] + 10.0  # far from every training object
    # (a SOM maps any point, however far, to its best-matching cell: SOMPZ's gold
    # selection cannot see such objects, Lima's balls do)
    assert c.covers(far).all() if method == "som" else not c.covers(far).any()


def test_files_read_part_by_part_give_the_in_memory_result(shifted_samples, sci_file,
                                                           tmp_path):
    """With the whole catalogue sampled, reading it in blocks of 700 rows changes only the
    science shot noise's estimate (σ/√n instead of a bootstrap): same weights, coverage,
    bins, n(z) and per-object assignments (written to the file, in catalogue order)."""
    train, _ = shifted_samples
    path, sci = sci_file
    kw = dict(method="lima", cull=True, estimator="knn", n_boot=200, seed=3)
    calls: list[tuple[int, int]] = []
    mem = estimate_nz(train, sci, COLS, progress=lambda *a: calls.append(a), **kw)
    assert calls == [(N, N)]  # one block
    out = tmp_path / "assignments.parquet"
    files = ScienceFiles(path, SCI_COLS, sample_rows=N, block_rows=700, assignments=out,
                         metadata={"science": "x"})
    calls.clear()
    part = estimate_nz(train, files, COLS, progress=lambda *a: calls.append(a), **kw)
    done = [k for k, _ in calls]  # after each block: rows so far, of all rows
    assert len(calls) >= 5 and done[-1] == N and {n for _, n in calls} == {N}
    assert np.all(np.diff(done) > 0) and max(np.diff([0, *done])) <= 700
    assert part.assignments is None and part.used is None and part.method == mem.method
    np.testing.assert_array_equal(part.correction.weights, mem.correction.weights)
    written = pd.read_parquet(out)
    pd.testing.assert_frame_equal(written, mem.assignments)
    meta = pq.read_schema(out).metadata
    assert meta[b"method"] == b"lima+cull" and meta[b"science"] == b"x" and b"grid" in meta
    np.testing.assert_allclose(part.nz, mem.nz, rtol=1e-12, atol=1e-12)
    same = ["bin", "mean_z", "covered_fraction", "n_objects", "calibration_bias"]
    pd.testing.assert_frame_equal(part.table[same], mem.table[same], rtol=1e-12)
    np.testing.assert_allclose(part.table["mean_z_err"], mem.table["mean_z_err"], rtol=0.15)
    assert part.mean_z_all == pytest.approx(mem.mean_z_all, rel=1e-12)


def test_a_gzipped_csv_catalogue_gives_the_parquet_result(shifted_samples, sci_file,
                                                          tmp_path, forbid_whole_reads):
    """A gzipped CSV science catalogue (one part, read as a stream of blocks, never whole)
    gives the n(z) and assignments of the same rows in parquet, a sampled correction
    included."""
    from cosmoml.catalog.io import read_table

    train, _ = shifted_samples
    _, sci = sci_file
    cols = ["id", *SCI_COLS.photometry_columns()]
    sci[cols].to_csv(tmp_path / "science.csv.gz", index=False)
    same = read_table(tmp_path / "science.csv.gz")  # the values the CSV holds
    pq.write_table(pa.Table.from_pandas(same, preserve_index=False),
                   tmp_path / "science.parquet", row_group_size=400)
    kw = dict(method="lima", nz_from="ppi", cull=True, estimator="knn", n_boot=20, seed=1)
    forbid_whole_reads("science.csv.gz")
    runs = {}
    for name in ("science.parquet", "science.csv.gz"):
        files = ScienceFiles(tmp_path / name, SCI_COLS, sample_rows=N // 3, block_rows=700,
                             assignments=tmp_path / f"a_{name}.parquet")
        assert len(files.parts) == (1 if name.endswith(".gz") else 4)
        runs[name] = estimate_nz(train, files, COLS, **kw)
    pd.testing.assert_frame_equal(runs["science.csv.gz"].table, runs["science.parquet"].table)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a_science.csv.gz.parquet"),
                                  pd.read_parquet(tmp_path / "a_science.parquet.parquet"))


@pytest.mark.parametrize("kw", [{"method": "som"}, {"method": "lima", "nz_from": "point"}],
                         ids=["som", "point"])
def test_som_and_point_part_by_part_give_the_in_memory_result(shifted_samples, sci_file,
                                                              tmp_path, kw):
    """SOM n(z) (from the science counts per bin and cell) and the point-estimate histogram
    (from per-bin counts on the grid) read in blocks of 700 rows: the same n(z), means and
    objects as in memory; the errors are other estimates of the same spread (SOM: a
    Poisson bootstrap of the counts instead of resampling objects; point: σ/√n instead of a
    bootstrap), equal within 25% (with 200 draws each, one bootstrap's spread is itself
    uncertain by 5%)."""
    train, _ = shifted_samples
    path, sci = sci_file
    kw = dict(estimator="knn", n_boot=200, seed=3, **kw)
    mem = estimate_nz(train, sci, COLS, **kw)
    files = ScienceFiles(path, SCI_COLS, sample_rows=N, block_rows=700,
                         assignments=tmp_path / "a.parquet")
    part = estimate_nz(train, files, COLS, **kw)
    assert part.method == mem.method
    np.testing.assert_allclose(part.nz, mem.nz, rtol=1e-12, atol=1e-12)
    same = ["bin", "mean_z", "covered_fraction", "n_objects", "calibration_bias"]
    pd.testing.assert_frame_equal(part.table[same], mem.table[same], rtol=1e-12)
    np.testing.assert_allclose(part.table["mean_z_err"], mem.table["mean_z_err"], rtol=0.25)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), mem.assignments)


def test_a_sampled_correction_and_the_block_size(shifted_samples, sci_file, tmp_path):
    """``ppi`` read part by part: the fold routing is fixed per row, so the result does not
    depend on the block size; a correction fitted on a random third of the catalogue gives
    an n(z) within twice the errors of the one fitted on all of it (the Lima counts of a
    1,000-object sample, about 3 per training ball, add noise the errors do not budget; a
    sample of millions does not)."""
    train, _ = shifted_samples
    path, _ = sci_file
    kw = dict(method="lima", nz_from="ppi", cull=True, estimator="knn", n_boot=20)
    runs = []
    for block, sample in ((700, N), (1300, N), (700, N // 3)):
        files = ScienceFiles(path, SCI_COLS, sample_rows=sample, block_rows=block,
                             assignments=tmp_path / f"a{block}_{sample}.parquet")
        runs.append(estimate_nz(train, files, COLS, **kw))
    pd.testing.assert_frame_equal(runs[0].table, runs[1].table)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"a700_{N}.parquet"),
                                  pd.read_parquet(tmp_path / f"a1300_{N}.parquet"))
    assert runs[2].correction.covered.size <= N // 3 < runs[0].correction.covered.size
    t0, t2 = runs[0].table, runs[2].table
    assert np.all(np.abs(t2["mean_z"] - t0["mean_z"]) < 2 * np.hypot(t0["mean_z_err"],
                                                                     t2["mean_z_err"]))
    assert np.all(np.abs(t2["covered_fraction"] - t0["covered_fraction"]) < 0.05)


def test_stratlearn_part_by_part(shifted_samples, sci_file, tmp_path):
    """StratLearn read part by part: each row's stratum comes from the mean of the
    cross-fitted propensity classifiers (none of which saw it), the sample's own (in
    memory) from the one fold that did not see it. The two agree for most rows (they
    differ near stratum edges, where the propensity's own noise decides), and the n(z) is
    the in-memory one within its errors."""
    train, _ = shifted_samples
    path, sci = sci_file
    kw = dict(method="stratlearn", estimator="knn", n_boot=50, seed=3)
    mem = estimate_nz(train, sci, COLS, **kw)
    files = ScienceFiles(path, SCI_COLS, sample_rows=N, block_rows=700,
                         assignments=tmp_path / "a.parquet")
    part = estimate_nz(train, files, COLS, **kw)
    c = mem.correction
    _, X_s, valid, _ = shift_features(train, sci, COLS)
    strata = c.info["stratum_of"](X_s[valid])
    assert np.mean(strata == c.info["strata_science"]) > 0.6
    covered, cells = c.covers_cells(X_s[valid])  # the rule's stratum is the routing's
    np.testing.assert_array_equal(cells, strata)
    np.testing.assert_array_equal(covered, c.covers(X_s[valid]))
    t0, t1 = mem.table, part.table
    assert np.all(np.abs(t1["mean_z"] - t0["mean_z"])
                  < 2 * np.hypot(t0["mean_z_err"], t1["mean_z_err"]))
    np.testing.assert_allclose(t1["covered_fraction"], t0["covered_fraction"], atol=0.01)
    a = pd.read_parquet(tmp_path / "a.parquet")
    assert (a["id"] == mem.assignments["id"]).all()
    assert np.mean(a["bin"] == mem.assignments["bin"]) > 0.9


@pytest.mark.parametrize(("processes", "kw"), [
    (False, {"method": "lima", "nz_from": "ppi", "cull": True}),
    (True, {"method": "stratlearn"})], ids=["threads-ppi", "processes-stratlearn"])
def test_the_dask_engine_gives_the_local_result(shifted_samples, sci_file, tmp_path,
                                                processes, kw, monkeypatch):
    """Parts sampled and predicted by the workers of a Dask cluster (threads of this
    process, or processes, which receive the fitted correction and models pickled): the
    sample is the local one; the sums are
    added in part order and the assignment files joined in it, so the n(z), its table and
    the assignments are the local engine's; progress is reported in rows; the parts'
    files are gone afterwards; one cluster serves the sampling and the science pass, and
    the fit between them keeps torch's threads."""
    pytest.importorskip("dask.distributed")
    from cosmoml.engine import dask as dask_engine

    train, _ = shifted_samples
    path, _ = sci_file
    kw = dict(estimator="knn", n_boot=50, seed=3, **kw)
    clusters = []  # each estimate_nz starts one, for its sampling and its science pass
    client = dask_engine.dask_client
    monkeypatch.setattr(dask_engine, "dask_client",
                        lambda *a: clusters.append(a) or client(*a))
    import torch

    threads, fit_threads = torch.get_num_threads(), []  # the fit keeps torch's threads
    oof = pipeline._out_of_fold_pdfs
    monkeypatch.setattr(pipeline, "_out_of_fold_pdfs", lambda *a, **k: fit_threads.append(
        torch.get_num_threads()) or oof(*a, **k))
    runs, calls, samples = {}, {}, {}
    for engine in ("local", "dask"):
        calls[engine] = []
        files = ScienceFiles(path, SCI_COLS, sample_rows=1000, block_rows=700,
                             assignments=tmp_path / f"{engine}.parquet", engine=engine,
                             workers=2, dask_processes=processes)
        if not processes:  # (each map starts a local cluster: processes take seconds)
            samples[engine] = files.sample(seed=3)
        runs[engine] = estimate_nz(train, files, COLS, **kw,
                                   progress=lambda *a, e=engine: calls[e].append(a))
    assert len(clusters) == 1 + bool(samples)
    assert fit_threads == [threads, threads] and torch.get_num_threads() == threads
    if samples:
        pd.testing.assert_frame_equal(samples["dask"][0], samples["local"][0])
    local, dask = runs["local"], runs["dask"]
    assert len(files.parts) >= 4 and calls["dask"][-1] == (N, N)
    assert [k for k, _ in calls["dask"]] == sorted({k for k, _ in calls["dask"]})
    np.testing.assert_allclose(dask.nz, local.nz, rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(dask.table, local.table, rtol=1e-12)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask.parquet"),
                                  pd.read_parquet(tmp_path / "local.parquet"))
    schema = pq.read_schema(tmp_path / "dask.parquet")  # columns and metadata
    assert schema.equals(pq.read_schema(tmp_path / "local.parquet"), check_metadata=True)
    assert b"grid" in schema.metadata
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dask.parquet", "local.parquet"]


class _Killed(Exception):
    """Stands for a run killed mid-way (not a cosmoml error: what was done is kept)."""


def _kill_at_part(monkeypatch, part: int) -> None:
    """Make the science pass stop when it reaches ``part``."""
    run = pipeline._pass_part

    def pass_part(job, item, *args):
        if item[0] == part:
            raise _Killed(f"killed at part {part}")
        return run(job, item, *args)

    monkeypatch.setattr(pipeline, "_pass_part", pass_part)


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_killed_run_resumes_where_it_stopped(shifted_samples, sci_file, tmp_path,
                                               monkeypatch, engine):
    """A run stopped in the science pass keeps its fit and its finished parts beside the
    assignments file; rerunning the same call (with either engine) fits nothing and
    predicts only the parts not done; stopped again while joining the parts, a third run
    predicts nothing and gives exactly the uninterrupted run's n(z), table and assignments
    (the sums are added in part order either way), then removes what was kept."""
    if engine == "dask":
        pytest.importorskip("dask.distributed")
    train, _ = shifted_samples
    path, _ = sci_file
    kw = dict(method="lima", nz_from="ppi", cull=True, estimator="knn", n_boot=20, seed=3)

    def files(name: str, engine: str = "local") -> ScienceFiles:
        return ScienceFiles(path, SCI_COLS, sample_rows=1000, block_rows=400,
                            assignments=tmp_path / name, engine=engine, workers=2)

    ref = estimate_nz(train, files("ref.parquet"), COLS, **kw)
    assert len(files("x").parts) == 8
    _kill_at_part(monkeypatch, 5)
    with pytest.raises(_Killed):
        estimate_nz(train, files("a.parquet"), COLS, **kw)
    state = tmp_path / "a.parquet.parts"
    kept = sorted(p.name for p in state.iterdir())
    assert kept == ["fit.pkl", *(f"part-{i:06d}.{k}" for i in range(5)
                                 for k in ("parquet", "sums"))]
    assert not (tmp_path / "a.parquet").exists()

    monkeypatch.undo()
    fits, predicted, calls = [], [], []
    monkeypatch.setattr(pipeline, "_calibrate", lambda *a, **k: fits.append(1))
    save = ScienceFiles.save_sums  # called here for each part predicted (on any engine)
    monkeypatch.setattr(ScienceFiles, "save_sums", lambda self, i, *a: predicted.append(i)
                        or save(self, i, *a))
    writer = pipeline.assignment_writer

    def killed_in_the_join(path, meta):  # stopped once every part is done
        if Path(path).name == "a.parquet":
            raise _Killed("killed while joining the parts")
        return writer(path, meta)

    monkeypatch.setattr(pipeline, "assignment_writer", killed_in_the_join)
    with pytest.raises(_Killed):
        estimate_nz(train, files("a.parquet", engine), COLS,
                    progress=lambda *a: calls.append(a), **kw)
    assert fits == [] and sorted(predicted) == [5, 6, 7]
    assert calls[-1] == (N, N) and calls[0][0] > 5 * 400  # the resumed rows count as done
    assert len(list(state.glob("*.sums"))) == 8

    monkeypatch.setattr(pipeline, "assignment_writer", writer)
    predicted.clear()
    calls.clear()
    res = estimate_nz(train, files("a.parquet", engine), COLS,
                      progress=lambda *a: calls.append(a), **kw)
    assert fits == [] and predicted == [] and calls == [(N, N)]
    assert res.resumed == {"fit": True, "parts": 8, "of": 8} and ref.resumed is None
    np.testing.assert_array_equal(res.nz, ref.nz)
    pd.testing.assert_frame_equal(res.table, ref.table, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"),
                                  pd.read_parquet(tmp_path / "ref.parquet"))
    assert not state.exists()


def test_a_run_with_other_inputs_or_settings_is_not_resumed(shifted_samples, sci_file,
                                                            tmp_path, monkeypatch):
    """What a stopped run kept is reused only by the same call: another setting, another
    training set, a science file that changed since, a damaged fit file or one that others
    could have changed each start afresh (the fit redone, every part predicted), with the
    result of a fresh run. The kept files are this user's alone (mode 0600)."""
    train, _ = shifted_samples
    path, _ = sci_file
    sci = tmp_path / "science.parquet"
    sci.write_bytes(path.read_bytes())
    kw = dict(method="lima", cull=True, estimator="knn", n_boot=10, seed=3)
    out = tmp_path / "a.parquet"

    def files() -> ScienceFiles:
        return ScienceFiles(sci, SCI_COLS, sample_rows=1000, block_rows=400, assignments=out)

    ref = estimate_nz(train, files(), COLS, **kw)
    calibrate, save = pipeline._calibrate, ScienceFiles.save_sums
    fits, predicted = [], []
    for change in ("setting", "train", "science", "damaged", "writable by others"):
        _kill_at_part(monkeypatch, 3)
        with pytest.raises(_Killed):
            estimate_nz(train, files(), COLS, **kw)
        monkeypatch.undo()
        fits.clear()
        predicted.clear()
        monkeypatch.setattr(pipeline, "_calibrate", lambda *a, **k: fits.append(1) or
                            calibrate(*a, **k))
        monkeypatch.setattr(ScienceFiles, "save_sums", lambda self, i, *a: predicted.append(
            i) or save(self, i, *a))
        args = dict(kw)
        t = train
        if change == "setting":
            args["seed"] = 4
        elif change == "train":
            t = train.iloc[:-1]
        elif change == "science":  # the same rows, written again
            sci.write_bytes(path.read_bytes())
        elif change == "damaged":
            (out.parent / "a.parquet.parts" / "fit.pkl").write_bytes(b"not a pickle")
        else:  # a pickle runs code when loaded: one that others could change is not read
            (out.parent / "a.parquet.parts" / "fit.pkl").chmod(0o666)
        kept = out.parent / "a.parquet.parts"
        assert {p.stat().st_mode & 0o777 for p in kept.glob("*.sums")} == {0o600}
        res = estimate_nz(t, files(), COLS, **args)
        assert fits == [1] and predicted == list(range(8)), change
        if change not in ("setting", "train"):
            pd.testing.assert_frame_equal(res.table, ref.table, check_exact=True)
        monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "science.parquet"]


def test_the_training_checksum_sees_every_value():
    """A run's key sums up the training table: equal tables give the same checksum, a
    changed value another, also in a column of arrays (which pandas cannot hash)."""
    df = pd.DataFrame({"z": [0.1, 0.2], "pdf": [np.arange(3.0), np.arange(3.0)]})
    same = pipeline._frame_checksum(df.copy())
    assert pipeline._frame_checksum(df) == same
    df.loc[1, "pdf"][2] = 7.0
    assert pipeline._frame_checksum(df) != same
    plain = df[["z"]]
    assert pipeline._frame_checksum(plain) != pipeline._frame_checksum(plain.assign(z=[0.1, 0.3]))


def _bad_catalogue(sci: pd.DataFrame, tmp_path) -> Path:
    """``sci`` as parquet (row groups of 400) with a magnitude that is not a number in
    row 2345 of column g."""
    bad = sci[["id", *SCI_COLS.photometry_columns()]].astype({"g": object})
    bad.loc[2345, "g"] = "faint?"
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pandas(bad.astype({"g": str}), preserve_index=False), path,
                   row_group_size=400)
    return path


def test_a_bad_value_on_a_dask_worker_names_file_and_row(shifted_samples, sci_file,
                                                         tmp_path):
    """A worker's error (the sampling pass's or the science pass's) stops the run with the
    file and row, and leaves no assignments file and no parts' files."""
    pytest.importorskip("dask.distributed")
    train, _ = shifted_samples
    _, sci = sci_file
    path = _bad_catalogue(sci, tmp_path)
    files = ScienceFiles(path, SCI_COLS, sample_rows=500, block_rows=400,
                         assignments=tmp_path / "a.parquet", engine="dask")
    named = r"bad\.parquet: column 'g' .*'faint\?' \(rows \[2345\]\)"
    with pytest.raises(CatalogError, match=named):  # by the sampling pass, on the cluster
        files.sample(0)
    files.sample = lambda seed: (sci.iloc[:500], np.arange(500))  # the bad row unseen
    with pytest.raises(CatalogError, match=named):  # by the science pass
        estimate_nz(train, files, COLS, method="lima", estimator="knn", n_boot=5)
    assert list(tmp_path.iterdir()) == [path]


def test_what_needs_the_whole_sample_is_refused(shifted_samples, sci_file, tmp_path,
                                                monkeypatch):
    train, _ = shifted_samples
    path, sci = sci_file
    files = ScienceFiles(path, SCI_COLS, sample_rows=1000, assignments=tmp_path / "a.parquet")
    plain = pipeline.correct  # a correction without a coverage rule for unseen rows
    monkeypatch.setattr(pipeline, "correct", lambda *a, **k: replace(plain(*a, **k),
                                                                     covers=None))
    with pytest.raises(ConfigError, match="part by part.*'lima' has none"):
        estimate_nz(train, files, COLS, method="lima", estimator="knn", n_boot=5)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="z_true"):
        estimate_nz(train, files, COLS, estimator="knn", z_true=sci["redshift"].to_numpy())
    assert not (tmp_path / "a.parquet").exists()


def test_a_bad_value_late_in_the_catalogue_names_file_and_row(shifted_samples, sci_file,
                                                              tmp_path):
    """The first read (the sample) checks every block: the error names the file and the
    row in it, and no assignments file is left behind."""
    train, _ = shifted_samples
    _, sci = sci_file
    path = _bad_catalogue(sci, tmp_path)
    files = ScienceFiles(path, SCI_COLS, sample_rows=500, block_rows=300,
                         assignments=tmp_path / "a.parquet")
    with pytest.raises(CatalogError, match=r"bad\.parquet: column 'g' .*'faint\?' "
                                           r"\(rows \[2345\]\)"):
        estimate_nz(train, files, COLS, method="lima", estimator="knn", n_boot=5)
    assert list(tmp_path.iterdir()) == [path]


def test_science_files_plan_and_sample(sci_file, tmp_path):
    path, sci = sci_file
    files = ScienceFiles([path, path], SCI_COLS, sample_rows=1000, block_rows=256)
    assert files.n_rows == 2 * N
    starts = [(s, len(df), df.index[0]) for s, _, df in files.blocks()]
    assert [s for s, _, _ in starts] == list(np.cumsum([0] + [n for _, n, _ in starts])[:-1])
    assert max(n for _, n, _ in starts) <= 256
    assert starts[len(starts) // 2][2] == 0  # the second file's rows are numbered anew
    sample, rows = files.sample(seed=4)
    assert len(sample) == 1000 and len(np.unique(rows)) == 1000 and rows.max() < 2 * N
    both = pd.concat([sci, sci], ignore_index=True)
    np.testing.assert_array_equal(sample["id"].to_numpy(), both["id"].to_numpy()[rows])
    np.testing.assert_array_equal(files.sample(seed=4)[1], rows)  # seeded
    assert not np.array_equal(files.sample(seed=5)[1], rows)
    with pytest.raises(CatalogError, match="sample_rows must be >= 1, got 0"):
        ScienceFiles(path, SCI_COLS, sample_rows=0)
    with pytest.raises(CatalogError, match="block_rows must be >= 1, got -1"):
        ScienceFiles(path, SCI_COLS, block_rows=-1)
    with pytest.raises(ConfigError, match="engine must be 'local' or 'dask', got 'spark'"):
        ScienceFiles(path, SCI_COLS, engine="spark")


def test_fold_routes_do_not_depend_on_where_a_block_starts():
    whole = pipeline._fold_routes(3, 0, 200_000, 3)
    assert set(np.unique(whole)) == {0, 1, 2}
    for start, n in ((0, 10), (65_530, 20), (131_000, 60_000)):
        np.testing.assert_array_equal(pipeline._fold_routes(3, start, n, 3),
                                      whole[start:start + n])


def test_random_rows_are_distinct_uniform_and_seeded():
    from cosmoml.nz.science import _random_rows

    rows = _random_rows(1000, 900, seed=1)  # many duplicates to draw again
    assert rows.size == 900 == np.unique(rows).size and rows.min() >= 0 and rows.max() < 1000
    assert np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(_random_rows(1000, 900, seed=1), rows)
    # each row is kept with probability k / n: over 400 draws of 50 of 100 rows, every
    # row's count is within 5σ of 200
    counts = np.bincount(np.concatenate([_random_rows(100, 50, s) for s in range(400)]),
                         minlength=100)
    assert np.all(np.abs(counts - 200) < 5 * np.sqrt(400 * 0.25))


def test_a_fits_catalogue_is_read_in_row_ranges(shifted_samples, sci_file, tmp_path):
    """A FITS science file is split into row ranges (memory mapped, only the needed
    columns read) like HDF5, not read whole: same parts' rows, same n(z) as the DataFrame."""
    from astropy.table import MaskedColumn, Table

    train, _ = shifted_samples
    _, sci = sci_file
    cols = ["id", *SCI_COLS.photometry_columns()]
    t = Table.from_pandas(sci[cols])
    t["extra"] = np.zeros((N, 4))  # a vector column the run does not need
    big = sci["id"].to_numpy(np.int64) + 2**62  # ids float64 cannot hold, one missing
    t["id"] = MaskedColumn(big, mask=np.arange(N) == 5)
    t.write(tmp_path / "science.fits")
    files = ScienceFiles(tmp_path / "science.fits", SCI_COLS, sample_rows=N, block_rows=700,
                         assignments=tmp_path / "a.parquet")
    assert [(p.row_start, p.row_end) for p in files.parts] == [
        (0, 700), (700, 1400), (1400, 2100), (2100, 2800), (2800, 3000)]
    got = pd.concat([df for _, _, df in files.blocks()], ignore_index=True)
    pd.testing.assert_frame_equal(got[cols[1:]], sci[cols[1:]], check_dtype=False)
    kw = dict(method="lima", estimator="knn", n_boot=20, seed=3)
    mem = estimate_nz(train, sci, COLS, **kw)
    part = estimate_nz(train, files, COLS, **kw)
    written = pd.read_parquet(tmp_path / "a.parquet")
    pd.testing.assert_frame_equal(written.drop(columns="id"), mem.assignments.drop(columns="id"))
    ids = pq.read_table(tmp_path / "a.parquet").column("id").to_pylist()  # exact, nulls kept
    assert ids == [None if i == 5 else int(v) for i, v in enumerate(big)]
    np.testing.assert_allclose(part.nz, mem.nz, rtol=1e-12, atol=1e-12)
