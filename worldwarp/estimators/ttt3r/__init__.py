"""TTT3R (CUT3R's recurrent reconstruction model with the TTT3R state update): the authors' pose and depth
estimator for generated frames, in plain torch, loading the released checkpoint."""

from .checkpoint import read_checkpoint, save_release_format
from .config import RELEASED, TINY, TINY_AUTHORS_DPT, Cut3rConfig, Ttt3rConfigError, model_string, parse_model_string
from .inference import Ttt3rEstimator, Ttt3rOutput, weiszfeld_focal
from .model import Cut3rModel

__all__ = ["Cut3rConfig", "Cut3rModel", "RELEASED", "TINY", "TINY_AUTHORS_DPT", "Ttt3rConfigError", "Ttt3rEstimator", "Ttt3rOutput",
           "model_string", "parse_model_string", "read_checkpoint", "save_release_format", "weiszfeld_focal"]
