"""notices: sightings, takedown notices, delivery, re-checks and statistics."""
