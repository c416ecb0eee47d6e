"""The stages of a seed-002 session, one module each, in protocol order (see :mod:`rig.runner.machine`)."""
