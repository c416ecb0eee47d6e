"""Offline analysis of saved sessions and connectomes (figures, statistics, reports).

The package is reserved by the design card and holds no analyses yet; read sessions with
:class:`rig.session.SessionReader` and the simulator's ground-truth connectome with
``sims.build_microscope(rig, seed).connectome()`` meanwhile.
"""
