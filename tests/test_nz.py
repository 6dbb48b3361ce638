"""Tomographic binning and stacked n(z) against exact answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cosmoml.errors import ConfigError
from cosmoml.nz import DES_Y1_EDGES, assign_bins, tomographic_nz
from cosmoml.pdf import PDFs, make_grid


def test_assign_bins_edges_and_outside():
    z = np.array([0.1, 0.2, 0.43, 0.6299, 0.9, 1.29, 1.3, np.nan])
    assert assign_bins(z, DES_Y1_EDGES).tolist() == [-1, 0, 1, 1, 3, 3, -1, -1]
    with pytest.raises(ConfigError, match="increasing"):
        assign_bins(z, [0.5, 0.2])


def test_stacked_means_recover_truth_for_unbiased_gaussians():
    rng = np.random.default_rng(0)
    grid = make_grid(0, 3, 601)
    n = 4000
    z_true = rng.uniform(0.25, 1.25, n)
    mu = z_true + 0.0  # unbiased PDFs centred on the truth
    pdfs = PDFs(grid, stats.norm.pdf(grid[None], mu[:, None], 0.03))
    table, nz = tomographic_nz(pdfs, mu, DES_Y1_EDGES, z_true)
    assert nz.shape == (4, grid.size)
    np.testing.assert_allclose(np.trapezoid(nz, grid, axis=1), 1.0, atol=1e-9)
    assert table["n_objects"].sum() == n
    assert np.abs(table["delta_mean_z"]).max() < 1e-3


def test_injected_shift_is_recovered():
    rng = np.random.default_rng(1)
    grid = make_grid(0, 3, 601)
    z_true = rng.uniform(0.3, 1.2, 3000)
    pdfs = PDFs(grid, stats.norm.pdf(grid[None], z_true[:, None] + 0.02, 0.03))
    table, _ = tomographic_nz(pdfs, z_true, (0.2, 0.7, 1.3), z_true)
    np.testing.assert_allclose(table["delta_mean_z"], 0.02, atol=1e-3)
    np.testing.assert_allclose(
        table["delta_mean_z_scaled"], 0.02 / (1 + table["mean_z_true"]), atol=1e-3
    )


def test_nz_exports_for_likelihood_codes(tmp_path):
    """SACC, 2pt FITS and qp hold the n(z) given, an empty bin as zeros flagged as such,
    and the Δz prior; a 2pt reader that integrates BINi over Z_MID gets each bin's mean."""
    import sacc
    from astropy.io import fits

    from cosmoml.nz.export import (
        read_twopoint_nz,
        write_qp_nz,
        write_sacc_nz,
        write_twopoint_nz,
    )
    from cosmoml.pdf import PDFs

    grid = np.linspace(0.0, 3.0, 301)
    means = (0.35, 0.8)
    nz = np.stack([np.exp(-0.5 * ((grid - m) / 0.1) ** 2) for m in means])
    nz /= np.trapezoid(nz, grid)[:, None]
    nz = np.vstack([nz, np.full(grid.size, np.nan)])  # bin 2: no objects
    err = np.array([0.004, 0.007, np.nan])
    write_twopoint_nz(tmp_path / "n.fits", grid, nz, name="nz_lens",
                      mean_z=[*means, np.nan], mean_z_err=err)
    z, n = read_twopoint_nz(tmp_path / "n.fits", "nz_lens")
    assert n.shape == (3, grid.size) and not n[2].any()
    for b in range(2):  # the bin's mean as a reader integrating over Z_MID sees it
        assert np.trapezoid(z * n[b], z) == pytest.approx(np.trapezoid(grid * nz[b], grid),
                                                          abs=1e-12)
    with fits.open(tmp_path / "n.fits") as f:
        h, d = f["nz_lens"].header, f["nz_lens"].data
        assert h["NZDATA"] and h["NBIN"] == 3 and h["NZ"] == grid.size
        assert [h[f"EMPTY_{i}"] for i in (1, 2, 3)] == [False, False, True]
        assert h["MEANZ_2"] == 0.8 and h["MEANZE_1"] == 0.004 and "MEANZ_3" not in h
        # histogram cells tile the redshift range without gaps, none below z = 0
        assert d["Z_LOW"][0] == 0.0 and np.allclose(d["Z_HIGH"][:-1], d["Z_LOW"][1:])
        assert np.all((d["Z_LOW"] <= d["Z_MID"]) & (d["Z_MID"] <= d["Z_HIGH"]))
    write_sacc_nz(tmp_path / "n.sacc", grid, nz, err, prefix="lens_",
                  quantity="galaxy_density")
    s = sacc.Sacc.load_fits(str(tmp_path / "n.sacc"))
    assert sorted(s.tracers) == ["lens_0", "lens_1", "lens_2"]
    assert s.tracers["lens_1"].quantity == "galaxy_density"
    np.testing.assert_allclose(s.tracers["lens_0"].nz, nz[0])
    np.testing.assert_allclose(np.diag(s.tracer_uncertainties["delta_z"].linear_transformation),
                               [0.004, 0.007, 0.0])
    write_qp_nz(tmp_path / "n.hdf5", grid, nz, ancil={"bin": np.arange(3)})
    np.testing.assert_allclose(PDFs.read_qp(tmp_path / "n.hdf5").pdf[:2], nz[:2])
    # a mismatched grid or error list writes nothing
    with pytest.raises(ConfigError, match="301 values per bin, the grid has 300"):
        write_twopoint_nz(tmp_path / "bad.fits", grid[:-1], nz)
    with pytest.raises(ConfigError, match="one error per bin"):
        write_sacc_nz(tmp_path / "bad.sacc", grid, nz, err[:2])
    assert not list(tmp_path.glob("bad*")) and not list(tmp_path.glob(".*"))
