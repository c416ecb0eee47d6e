"""Subcommands of the ``holostim`` CLI, one module per group (see :mod:`rig.cli`)."""
