"""The WinRT facade: the socket classes and their control and information objects."""
