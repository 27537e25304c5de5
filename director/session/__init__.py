"""A measurement session, split by responsibility (see each module):

- :mod:`~director.session.machine`: the state machine, :class:`Session`;
- :mod:`~director.session.meter_pump`: the meter (read loop, reconnects, gaps, diagnostics);
- :mod:`~director.session.run_writer`: the run folder (spl.txt, uploads, journals, records, Parquet);
- :mod:`~director.session.sut_ingest`: the SUT's readings (batches, re-sends, late arrivals) and clock reports;
- :mod:`~director.session.nodes`: the node agents beside the LoadGen node (their readings, clocks, leases, gaps);
- :mod:`~director.session.records`: session.json and power-dev's server.json, built and written;
- :mod:`~director.session.feed`: what the live view is told.
"""

from director.errors import MeterBusyError, SessionStateError
from director.session.config import PhaseTimes, SessionConfig
from director.session.machine import Analyze, Session
from director.session.run_writer import finish_sample_journals

__all__ = [
    "Analyze",
    "MeterBusyError",
    "PhaseTimes",
    "Session",
    "SessionConfig",
    "SessionStateError",
    "finish_sample_journals",
]
