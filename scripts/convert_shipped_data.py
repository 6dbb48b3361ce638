"""One-off conversion of the data sets shipped in ``cosmoml/datasets/data``.

Run once in a scratch environment that holds the upstream files (never at run time):

    pip download --no-deps pz-rail-base==2.0.11 pzflow==4.0.0
    unzip the two wheels, then
    python scripts/convert_shipped_data.py RAIL_TESTDATA_DIR PZFLOW_EXAMPLE_FILES_DIR

Both upstream files are ordered in redshift slabs, so every shipped table is shuffled with
a fixed seed (``SHUFFLE_SEED``) before it is written; the original row index is kept in
``id`` (DC2) or ``source_row`` (Buzzard) so the provenance of each row is traceable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

SHUFFLE_SEED = 9816
OUT = Path(__file__).resolve().parents[1] / "src" / "cosmoml" / "datasets" / "data"


def _dc2(path: Path) -> pd.DataFrame:
    with h5py.File(path, "r") as f:
        g = f["photometry"]
        cols = {"id": g["id"][:]}
        for band in "ugrizy":
            cols[f"mag_{band}_lsst"] = g[f"mag_{band}_lsst"][:]
            cols[f"mag_err_{band}_lsst"] = g[f"mag_err_{band}_lsst"][:]
        cols["redshift"] = g["redshift"][:]
    return pd.DataFrame(cols)


def _shuffle(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    order = np.random.default_rng(seed).permutation(len(df))
    return df.iloc[order].reset_index(drop=True)


def main(rail_dir: str, pzflow_dir: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for split in ("training", "validation"):
        df = _shuffle(_dc2(Path(rail_dir) / f"test_dc2_{split}_9816.hdf5"), SHUFFLE_SEED)
        df.to_parquet(OUT / f"dc2_{split}.parquet", compression="zstd", index=False)
        print(split, df.shape)
    bz = pd.read_pickle(Path(pzflow_dir) / "galaxy-data.pkl")  # trusted upstream file
    bz = bz.astype({b: np.float32 for b in "ugrizy"})
    bz.insert(0, "source_row", np.arange(len(bz), dtype=np.int64))
    bz = _shuffle(bz, SHUFFLE_SEED)
    bz.to_parquet(OUT / "buzzard_truth.parquet", compression="zstd", index=False)
    print("buzzard", bz.shape)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
