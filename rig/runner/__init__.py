"""The session runner: the seed-002 state machine that drives a rig (or the simulated microscope) through
targets → calibration → power test → tuning → ensembles → holograms → stimulation, writing each stage and every
trial to the session file as it completes. See docs/controller.md."""
from .errors import RunnerError, SessionPaused
from .machine import STAGE_ORDER, resume_session, start_session
from .progress import Progress

__all__ = ["Progress", "RunnerError", "STAGE_ORDER", "SessionPaused", "resume_session", "start_session"]
