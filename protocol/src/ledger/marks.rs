//! Accounts marked for work at the end of an operation (a re-walk, a recount). Asking
//! whether an account is marked happens for nearly every record that enters, so it is a
//! flag by the account's number, not a search among the marked keys; the marked ones
//! are handed out in key order, so the work at the end runs in the same order on every
//! node whatever order the accounts were met in.

use super::arena::{Accounts, Acct};

/// A set of account numbers with constant-time membership.
#[derive(Default)]
pub(crate) struct Marks {
    /// One flag per account number met so far (grown on marking).
    flags: Vec<bool>,
    /// The marked numbers, in the order marked.
    list: Vec<Acct>,
}

impl Marks {
    /// Whether `a` is marked.
    pub fn contains(&self, a: Acct) -> bool {
        self.flags.get(a.index()).copied().unwrap_or(false)
    }

    /// Marks `a`.
    pub fn insert(&mut self, a: Acct) {
        let i = a.index();
        if i >= self.flags.len() {
            self.flags.resize(i + 1, false);
        }
        if !self.flags[i] {
            self.flags[i] = true;
            self.list.push(a);
        }
    }

    /// Unmarks everything and returns what was marked, ordered by account key.
    pub fn take_by_key(&mut self, accounts: &Accounts) -> Vec<Acct> {
        let mut list = std::mem::take(&mut self.list);
        for a in &list {
            self.flags[a.index()] = false;
        }
        list.sort_unstable_by_key(|&a| accounts[a].key);
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::AccountId;

    #[test]
    fn marks_are_unique_and_come_out_by_key() {
        let mut accounts = Accounts::default();
        let b = accounts.intern(AccountId([2; 32]), false);
        let a = accounts.intern(AccountId([1; 32]), false);
        let c = accounts.intern(AccountId([3; 32]), false);
        let mut m = Marks::default();
        assert!(!m.contains(c));
        m.insert(c);
        m.insert(a);
        m.insert(c);
        assert!(m.contains(a) && m.contains(c) && !m.contains(b));
        assert_eq!(m.take_by_key(&accounts), vec![a, c]);
        assert!(!m.contains(a) && !m.contains(c));
        assert!(m.take_by_key(&accounts).is_empty());
    }
}
