"""pytest plugin for testing code built on rcstream against the bundled emulator.

(Fixtures are added with the CLI/testing issue.)
"""
