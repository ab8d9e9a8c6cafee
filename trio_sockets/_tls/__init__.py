"""TLS: contexts, the handshake and what it found, certificate chains, TLS output."""
