//! Shared helpers for rampart's end-to-end tests.
