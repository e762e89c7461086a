"""Per-environment descriptors of configurations (SOAP via dscribe)."""
