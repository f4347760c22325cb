"""detection: fingerprint, candidates, decision, match: one use case for the API and the crawler."""
