"""The HTTP interfaces of facetrail (FastAPI routers)."""
