"""The rig: configuration, session file, hardware interfaces and drivers, ZMQ processes, session state machine, CLI."""
