"""Simulated camera network: cameras, vehicles, scenarios, HTTP client."""
