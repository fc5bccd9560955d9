"""The service half of perflab: `create_app(settings)` builds the FastAPI app."""
