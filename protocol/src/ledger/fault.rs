//! Ledger rules a test may switch off on purpose (cargo feature `fault-injection`): the
//! simulator's invariant checks must fail when the ledger itself is wrong, not only when
//! its input is. Without the feature no fault can be set.

/// A ledger rule switched off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub enum Fault {
    /// The first record seen at a (signer, seq) wins and later ones are dropped, as in a
    /// ledger without fork detection: no fork enters the set, so the state depends on
    /// arrival order and a double spend is never found.
    FirstSeenWins,
}
