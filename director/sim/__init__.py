"""Everything SIMULATED, in one place: load signals (:mod:`~director.sim.signal`), the WT3xx analyzer on a pty
(:mod:`~director.sim.wt3xx`, what ``sim://`` opens), the analyzer behind the PTDaemon-protocol server
(:mod:`~director.sim.ptd_analyzer`) and the Redfish BMC (:mod:`director.sim.redfish`). Production code reaches
a simulator only through a meter model's declaration (``MeterModel.simulator``) or a simulator command."""
