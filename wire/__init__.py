"""The Vigía wire protocol: the one socket protocol every part speaks.

Read it as layers, bottom up: `frame` (bytes on the wire), `messages` (typed kinds),
`transport` (plain TCP or TLS), `connection` (framing plus keepalive), `auth` and `handshake`
(who is talking), `server` and `client` (threads, reconnects). docs/protocol.md is the same
contract written for people.
"""
