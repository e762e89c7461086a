"""Generators and selectors of high-energy candidate structures (filled by the sampling issue)."""
