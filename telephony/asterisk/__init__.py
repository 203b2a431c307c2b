"""Asterisk: an ARI (Stasis) application whose media legs are externalMedia channels.

`ari` (the REST + events client), `stasis` (what happens to a call), `audiosocket`, `wsmedia` and
`ports` (the media legs and the engine's `MediaPort` on each), `versions` (features by release),
`config` (settings). `manage.py runasterisk` runs it all in one process per PBX.
"""
