"""Reach the outside world safely: the one guarded HTTP client and the URL helpers.

Every outbound request of Empreinte (crawler fetches, notice re-checks, webhook
deliveries, and anything later) is made by a client from :mod:`.client`, whose
transport resolves each host and refuses non-public addresses on every hop
(:mod:`.guard`). :mod:`.urls` holds what every room needs to know of a URL.
"""
