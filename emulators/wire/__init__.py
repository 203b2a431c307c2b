"""The emulators' own wire formats (G.711, RTP, AudioSocket, resampling), written from the references.

Why a separate copy: an emulator that framed audio with the product's modules would pass any bug
those modules have on both sides of the wire. Nothing here imports the product (import-linter
contract "Emulator wire code does not share the product's code" in pyproject.toml); the tests in
tests/emulators/test_wire_reference.py check both implementations against the same reference bytes.
"""
