"""The victim's page: fingerprint photos in the browser, open or check a case."""
