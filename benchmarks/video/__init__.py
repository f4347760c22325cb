"""Video benchmark: re-posts of registered videos found, unrelated clips refused, speed and size."""
