"""Herald's built-in pipeline stages."""
