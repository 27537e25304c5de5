"""A SIMULATED BMC answering the DMTF Redfish API over real HTTP(S): ``mlpower-director redfish-sim``.

- :mod:`~director.sim.redfish.device`: the readings, their updates and faults, the resources (no sockets);
- :mod:`~director.sim.redfish.app`: the FastAPI app (authentication, sessions, delays);
- :mod:`~director.sim.redfish.server`: uvicorn on a socket, the self-signed certificate, the command.
"""

from director.sim.redfish.app import SimAuth, SimFaults, create_app
from director.sim.redfish.device import CHASSIS_ID, SimulatedBmc
from director.sim.redfish.server import RedfishSimServer, run_redfish_sim, self_signed_certificate

__all__ = [
    "CHASSIS_ID",
    "RedfishSimServer",
    "SimAuth",
    "SimFaults",
    "SimulatedBmc",
    "create_app",
    "run_redfish_sim",
    "self_signed_certificate",
]
