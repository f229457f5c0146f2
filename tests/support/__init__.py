"""Helpers shared by the test suites: a controllable TCP proxy, the CLI as subprocesses."""
