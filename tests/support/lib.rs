//! Helpers for the cross-process tests: start the server, run bots, read their JSON lines.
