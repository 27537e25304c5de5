"""GPU power on the SUT: NVML and simulated backends behind one interface."""
