"""Online analysis: streaming motion correction, trace extraction, ΔF/F, tuning and photostim responses.

Pure computation, one frame at a time: no hardware, sockets or files (except :func:`load_footprints`, which
reads footprint files). The rig feeds :class:`OnlinePipeline` frames and trial events and publishes its results.
"""
from .baseline import RunningPercentile
from .config import OnlineConfig
from .errors import OnlineError
from .extraction import TraceExtractor, Traces
from .footprints import Footprints, load_footprints
from .motion import MotionCorrector, Shift
from .photostim import EvokedResponse, PowerTestResult, evoked_response, power_test, zscore
from .pipeline import FrameResult, OnlinePipeline
from .trials import TrialEvent, TrialRecord
from .tuning import (OrientationTuning, TuningResult, VonMisesFit, fit_double_von_mises, one_way_anova,
                     orientation_tuning, tuning_from_responses)

__all__ = [
    "EvokedResponse", "Footprints", "FrameResult", "MotionCorrector", "OnlineConfig", "OnlineError",
    "OnlinePipeline", "OrientationTuning", "PowerTestResult", "RunningPercentile", "Shift", "TraceExtractor",
    "Traces", "TrialEvent", "TrialRecord", "TuningResult", "VonMisesFit", "evoked_response",
    "fit_double_von_mises", "load_footprints", "one_way_anova", "orientation_tuning", "power_test",
    "tuning_from_responses", "zscore",
]
