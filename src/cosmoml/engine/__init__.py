"""Running prediction over catalogues larger than memory: input parts, chunked reading,
atomic part outputs and a resumable manifest (local engine)."""

from cosmoml.engine.local import MANIFEST, part_name, predict_part, run_predict
from cosmoml.engine.parts import Part, expand_inputs, plan_parts, read_part

__all__ = ["MANIFEST", "Part", "expand_inputs", "part_name", "plan_parts", "predict_part",
           "read_part", "run_predict"]
