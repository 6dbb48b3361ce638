"""Run RAIL's FlexZBoost and KNearNeigh on the DC2 test files (run with RAIL's own venv).

Invoked by photoz_dc2.py as ``.rail-venv/bin/python _rail_runner.py OUT.npz [names]``; writes
each estimator's PDFs on the grid 0..3 (301 points) with fit/predict seconds. Invoked by
scale.py as ``_rail_runner.py --scale CATALOG.hdf5 OUT.json [names]``: trains on the DC2
training file, then times RAIL's own end-to-end estimate stage (read the catalogue, PDFs,
write its qp output) on CATALOG. Not part of cosmoml: it imports only RAIL and numpy.
"""

import json
import os
import sys
import tempfile
import time

import numpy as np
from rail.core.data import TableHandle
from rail.utils.path_utils import RAILDIR

GRID = np.linspace(0.0, 3.0, 301)
DATA = os.path.join(RAILDIR, "rail/examples_data/testdata")


def run(name: str, workdir: str, catalog: str | None = None) -> dict:
    train = TableHandle("training_data", path=os.path.join(DATA, "test_dc2_training_9816.hdf5"))
    valid = TableHandle("validation_data",
                        path=catalog or os.path.join(DATA, "test_dc2_validation_9816.hdf5"))
    common = {"hdf5_groupname": "photometry", "zmin": 0.0, "zmax": 3.0, "nzbins": 301}
    model = os.path.join(workdir, f"{name}.pkl")
    if name == "rail_flexzboost":
        from rail.estimation.algos.flexzboost import FlexZBoostEstimator as E
        from rail.estimation.algos.flexzboost import FlexZBoostInformer as I
    elif name == "rail_knn":
        from rail.estimation.algos.k_nearneigh import KNearNeighEstimator as E
        from rail.estimation.algos.k_nearneigh import KNearNeighInformer as I
    else:
        raise ValueError(name)
    inf = I.make_stage(name=f"inform_{name}", model=model, **common)
    t0 = time.perf_counter()
    inf.inform(train)
    t_fit = time.perf_counter() - t0
    est = E.make_stage(
        name=f"estimate_{name}",
        model=inf.get_handle("model"),
        output=os.path.join(workdir, f"{name}_out.hdf5"),
        **common,
    )
    t0 = time.perf_counter()
    out = est.estimate(valid)
    t_pred = time.perf_counter() - t0
    if catalog is not None:  # scale mode: the timing is the result
        return {"t_fit": t_fit, "t_pred": t_pred, "rows": int(out.data.npdf)}
    ens = out.data
    pdf = ens.pdf(GRID)
    import h5py

    with h5py.File(os.path.join(DATA, "test_dc2_validation_9816.hdf5")) as f:
        z = f["photometry/redshift"][:]
    return {"pdf": pdf, "z": z, "t_fit": t_fit, "t_pred": t_pred}


def main() -> None:
    if sys.argv[1] == "--scale":
        catalog, out = sys.argv[2], sys.argv[3]
        names = sys.argv[4:] or ["rail_knn", "rail_flexzboost"]
        with tempfile.TemporaryDirectory() as wd:
            meta = {name: run(name, wd, catalog) for name in names}
        with open(out, "w") as f:
            json.dump(meta, f)
        return
    out = sys.argv[1]
    names = sys.argv[2:] or ["rail_knn", "rail_flexzboost"]
    res = {}
    meta = {}
    with tempfile.TemporaryDirectory() as wd:
        for name in names:
            r = run(name, wd)
            res[f"{name}/pdf"] = r["pdf"].astype(np.float32)
            res[f"{name}/z"] = r["z"]
            meta[name] = {"t_fit": r["t_fit"], "t_pred": r["t_pred"]}
    np.savez(out, **res)
    with open(out + ".json", "w") as f:
        json.dump(meta, f)


if __name__ == "__main__":
    main()
