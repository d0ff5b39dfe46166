//! User-namespace ID maps for rampart.
