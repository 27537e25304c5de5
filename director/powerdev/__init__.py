"""power-dev's client/server protocol (v3): what a director needs to serve power-dev's ``client.py``."""
