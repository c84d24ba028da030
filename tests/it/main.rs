//! Integration tests: drive the real hookd binary.
