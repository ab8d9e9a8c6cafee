"""The ``trio-sockets`` command line."""
