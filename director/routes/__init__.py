"""The director's HTTP routes, one ``APIRouter`` per concern; each route checks the request's shape and calls
the session (or the director), whose errors :mod:`director.routes.common` turns into error replies."""
