"""Runnable ports of the WinRT socket samples (installed as ``trio_sockets.examples``)."""
