"""Stand-ins for the push providers, for tests, benchmarks and the demo: never used in production.

fcm    LoopbackGateway, an HTTP server answering like FCM HTTP v1 (`manage.py loopback_gateway`)
"""
