"""The WebSocket classes, over StreamSocket and the sans-I/O protocol of ``websockets``."""
