"""The try-it page at `GET /`: upload a photo, see what the API does with it."""
