"""The PTDaemon-protocol front: ``mlpower-ptd``, SPEC PTDaemon's command line and TCP protocol served by
mlpower over an analyzer it reads itself (:mod:`~director.ptd_front.meter_instrument`) or over the simulated
one (:mod:`director.sim.ptd_analyzer`)."""
