"""Offline analysis of saved sessions and connectomes."""
