"""Sockets, system calls, the resolver and the output drivers.

trio and the standard library only: nothing here knows the WinRT classes.
"""
