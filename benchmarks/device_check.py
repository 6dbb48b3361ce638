"""The `nn` estimator on a GPU: that it trains and predicts there, what a GPU-trained model
predicts on a CPU, and whether a galaxy's PDF depends on how the catalogue is chunked.

cosmoml uses CUDA when present (``NNEnsemblePhotoZ(device="auto")``) and stores the
members' weights as numpy arrays, so a model trained on a GPU node is meant to predict on
CPU-only workers. This checks, on a machine with a GPU: training and prediction time of
the default `nn` on DC2 (10,225 training galaxies; 20,449 validation galaxies predicted)
on the GPU and on the CPU (each in this process, torch's default threads); the largest
PDF difference between the GPU and the CPU predicting with the same (GPU-trained) model,
and the shift of the point estimates; the same model saved and loaded; and the GPU's PDFs
of the validation set predicted whole against predicted in chunks of 1,000 rows (the
prediction engine promises the same bytes whatever the chunking).

    python benchmarks/device_check.py [--output FILE]

Prints a table and writes JSON (default ``benchmarks/results/device_check.json``). Exits
with status 2 when no GPU is visible.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from scale import write_results  # benchmarks/ is on sys.path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--output", default=str(HERE / "results" / "device_check.json"))
    args = ap.parse_args()
    import torch

    from cosmoml import __version__
    from cosmoml.catalog.columns import resolve_columns
    from cosmoml.datasets import load_dc2
    from cosmoml.metrics import evaluate
    from cosmoml.model import PhotoZModel

    if not torch.cuda.is_available():
        print("no GPU visible", file=sys.stderr)
        sys.exit(2)
    train, valid = load_dc2("training"), load_dc2("validation")
    cols = resolve_columns(train.columns, need_z=True)
    z = valid["redshift"].to_numpy()
    rows, models = {}, {}
    for device in ("cuda", "cpu"):
        t0 = time.perf_counter()
        model = PhotoZModel("nn", estimator_params={"device": device}).fit(train, cols)
        t_fit = time.perf_counter() - t0
        model.predict_pdf(valid.iloc[:100])  # warm-up (kernels, caches)
        t0 = time.perf_counter()
        pdfs, _ = model.predict_pdf(valid)
        t_pred = time.perf_counter() - t0
        m = evaluate(pdfs, z)
        rows[device] = {"fit_s": t_fit, "predict_s": t_pred, "sigma68": m["sigma68"],
                        "outlier_frac": m["outlier_frac"]}
        models[device] = (model, pdfs)
    gpu_model, gpu_pdfs = models["cuda"]
    # the GPU-trained model, predicting on the CPU: saved and loaded, its device set to CPU
    with tempfile.TemporaryDirectory() as tmp:
        gpu_model.save(Path(tmp) / "m.cosmoml")
        loaded = PhotoZModel.load(Path(tmp) / "m.cosmoml")
    loaded.estimator_.device = "cpu"
    cpu_pdfs, _ = loaded.predict_pdf(valid)
    chunks = np.concatenate([gpu_model.predict_pdf(valid.iloc[s:s + 1000])[0].pdf
                             for s in range(0, len(valid), 1000)])
    check = {
        "gpu_vs_cpu_max_abs_pdf": float(np.max(np.abs(cpu_pdfs.pdf - gpu_pdfs.pdf))),
        "gpu_vs_cpu_max_abs_median": float(np.max(np.abs(cpu_pdfs.median()
                                                         - gpu_pdfs.median()))),
        "gpu_pdf_max": float(gpu_pdfs.pdf.max()),
        "gpu_chunked_identical": bool(np.array_equal(chunks, gpu_pdfs.pdf)),
        "gpu_chunked_max_abs": float(np.max(np.abs(chunks - gpu_pdfs.pdf))),
    }
    print("| device | fit s | predict s (20,449) | sigma68 | outliers |\n"
          "| --- | --- | --- | --- | --- |")
    for device, r in rows.items():
        print(f"| {device} | {r['fit_s']:.1f} | {r['predict_s']:.2f} | {r['sigma68']:.4f} "
              f"| {r['outlier_frac']:.4f} |")
    print(f"fit time CPU / GPU: {rows['cpu']['fit_s'] / rows['cuda']['fit_s']:.2f}")
    for k, v in check.items():
        print(f"{k}: {v}")
    out = {"benchmark": "device_check", "cosmoml_version": __version__,
           "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0),
           "cpu_threads": torch.get_num_threads(),
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
           "rows": rows, "check": check}
    write_results(args.output, out)


if __name__ == "__main__":
    main()
