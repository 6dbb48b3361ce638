"""Safe (de)serialisation of scikit-learn tree ensembles through skops.

skops refuses to build any type that is not explicitly trusted; we trust only the
scikit-learn types our estimators store, so a tampered model file cannot run code.
"""

from __future__ import annotations

import numpy as np
import skops.io as sio

from cosmoml.errors import ModelFileError

TRUSTED = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._forest.ExtraTreesRegressor",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._weight_boosting.AdaBoostRegressor",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._classes.ExtraTreeRegressor",
    }
)


def dump_sklearn(obj) -> np.ndarray:
    """The skops bytes of ``obj`` as a uint8 array (stored in the model's npz)."""
    return np.frombuffer(sio.dumps(obj), dtype=np.uint8)


def load_sklearn(blob: np.ndarray, expected: tuple[type, ...]):
    """Rebuild an object from :func:`dump_sklearn` output; refuse untrusted types and any
    object that is not an instance of ``expected``."""
    data = blob.tobytes()
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise ModelFileError(f"embedded scikit-learn model is corrupt: {exc}") from exc
    refused = sorted(set(untrusted) - TRUSTED)
    if refused:
        raise ModelFileError(f"model file holds untrusted types {refused}; refusing to load it")
    try:
        obj = sio.loads(data, trusted=list(untrusted))
    except Exception as exc:
        raise ModelFileError(f"embedded scikit-learn model is corrupt: {exc}") from exc
    if not isinstance(obj, expected):
        raise ModelFileError(
            f"embedded model is a {type(obj).__name__}, expected "
            f"{' or '.join(t.__name__ for t in expected)}; refusing to load it"
        )
    return obj
