"""Real hardware drivers (each imports its SDK lazily) and a no-hardware SLM that records what it shows.

* :mod:`rig.drivers.meadowlark` — Meadowlark SLM through the Blink SDK (ctypes)
* :mod:`rig.drivers.monitor_slm` — an SLM driven as a second monitor (pygame)
* :mod:`rig.drivers.nidaq_laser` — Pockels-cell power through an NI-DAQ analog output (nidaqmx), with
  :mod:`rig.drivers.pockels_calibration` (command volts ↔ measured mW)
* :mod:`rig.drivers.scanimage_bridge` — frames and events from ScanImage over ZMQ
* :mod:`rig.drivers.null_slm` — no hardware: records masks and the times they were shown
* :mod:`rig.drivers.factory` — the SLM driver a rig profile names
* :mod:`rig.drivers.fakes` — fakes of the SDK calls, for tests and for checking a rig profile without hardware
"""
