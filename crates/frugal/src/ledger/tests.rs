//! Ledger tests against both backends.
