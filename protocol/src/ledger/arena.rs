//! The set's records numbered as they enter: entries in a vector indexed by number, and
//! accounts likewise, each behind one hash lookup from its name. A record's references
//! (its previous transfer, its claims, its claimers, its signer and recipient) are
//! resolved to numbers once, when it enters, and the fields upkeep reads are held in the
//! entry, so settling a record touches a few entries and never follows a record pointer.
//! Numbers are private to one ledger: they follow arrival order, so nothing derived may
//! depend on them (the digest and the views sort by name). Only what is about this
//! node's own arrival order uses them: a history lists what it took in last first.

use std::ops::{Index, IndexMut};
use std::sync::Arc;

use super::account::Account;
use super::{Parent, Status, Window};
use crate::id::{AccountId, RecordId};
use crate::maps::Map;
use crate::record::Record;

/// A record's number: its place in the order records entered this ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Ix(u32);

/// An account's number: its place in the order this ledger first met it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Acct(u32);

impl Acct {
    /// The number as an index into per-account tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Numbers held inline while there are few: most records claim a few payments, and
/// most payments are claimed once.
pub(crate) type Ixs = smallvec::SmallVec<[Ix; 2]>;

/// A record in the set and what is derived about it.
pub(crate) struct Entry {
    pub record: Arc<Record>,
    pub id: RecordId,
    pub signer: Acct,
    pub seq: u64,
    /// A transfer with an amount, or a mint: its recipient and amount.
    pub payment: Option<(Acct, u64)>,
    /// Whether it is a transfer (the only kind whose status takes money back).
    pub transfer: bool,
    /// `None` only between entering and the end of the operation.
    pub status: Option<Status>,
    pub parent: Option<Parent>,
    /// A transfer's previous record in its window (its `prev`, when that is a transfer);
    /// `None` where the window starts.
    pub prev_in_window: Option<Ix>,
    pub window: Window,
    /// Canonical records that claim this one.
    pub canonical_claimers: u32,
    /// What a transfer claims, in the record's order.
    pub claims: Ixs,
    /// Records in the set that claim this one.
    pub claimers: Ixs,
}

/// The records of the set, by number and by id.
#[derive(Default)]
pub(crate) struct Records {
    index: Map<RecordId, Ix>,
    entries: Vec<Entry>,
}

impl Records {
    /// How many records.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of the record with this id.
    pub fn ix(&self, id: &RecordId) -> Option<Ix> {
        self.index.get(id).copied()
    }

    /// Whether the set holds this id.
    pub fn contains_key(&self, id: &RecordId) -> bool {
        self.index.contains_key(id)
    }

    /// The entry of the record with this id.
    pub fn get(&self, id: &RecordId) -> Option<&Entry> {
        self.ix(id).map(|i| &self[i])
    }

    /// Adds an entry under the next number. The caller checked that its id is new.
    pub fn push(&mut self, entry: Entry) -> Ix {
        // A ledger never holds 2^32 records: that would be a terabyte of them.
        let ix = Ix(u32::try_from(self.entries.len()).expect("fewer than 2^32 records"));
        self.index.insert(entry.id, ix);
        self.entries.push(entry);
        ix
    }

    /// Room for `n` more records.
    pub fn reserve(&mut self, n: usize) {
        self.index.reserve(n);
        self.entries.reserve(n);
    }

    /// Every entry, in the order they entered.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Every entry's number.
    #[cfg(any(test, feature = "laws"))]
    pub fn numbers(&self) -> impl Iterator<Item = Ix> + use<> {
        (0..self.entries.len() as u32).map(Ix)
    }

    /// Every entry, for work that changes them.
    #[cfg(any(test, feature = "laws"))]
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.entries.iter_mut()
    }
}

impl Index<Ix> for Records {
    type Output = Entry;
    fn index(&self, i: Ix) -> &Entry {
        &self.entries[i.0 as usize]
    }
}

impl IndexMut<Ix> for Records {
    fn index_mut(&mut self, i: Ix) -> &mut Entry {
        &mut self.entries[i.0 as usize]
    }
}

impl Index<&RecordId> for Records {
    type Output = Entry;
    /// The entry of a record the set holds; panics otherwise, as a map would.
    fn index(&self, id: &RecordId) -> &Entry {
        self.get(id).expect("record in the set")
    }
}

/// The accounts the ledger knows, by number and by key.
#[derive(Default)]
pub(crate) struct Accounts {
    index: Map<AccountId, Acct>,
    accounts: Vec<Account>,
}

impl Accounts {
    /// The number of this account.
    pub fn acct(&self, key: &AccountId) -> Option<Acct> {
        self.index.get(key).copied()
    }

    /// The account with this key.
    pub fn get(&self, key: &AccountId) -> Option<&Account> {
        self.acct(key).map(|a| &self[a])
    }

    /// The number of this account, met now if it was not before.
    pub fn intern(&mut self, key: AccountId, issuer: bool) -> Acct {
        *self.index.entry(key).or_insert_with(|| {
            let a = Acct(u32::try_from(self.accounts.len()).expect("fewer than 2^32 accounts"));
            self.accounts.push(Account::new(key, issuer));
            a
        })
    }

    /// How many accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Every account, in the order met.
    pub fn iter(&self) -> impl Iterator<Item = &Account> {
        self.accounts.iter()
    }

    /// Every account's number.
    #[cfg(any(test, feature = "laws"))]
    pub fn numbers(&self) -> impl Iterator<Item = Acct> + use<> {
        (0..self.accounts.len() as u32).map(Acct)
    }

    /// Every account, for work that changes them.
    #[cfg(any(test, feature = "laws"))]
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Account> {
        self.accounts.iter_mut()
    }
}

impl Index<Acct> for Accounts {
    type Output = Account;
    fn index(&self, a: Acct) -> &Account {
        &self.accounts[a.index()]
    }
}

impl IndexMut<Acct> for Accounts {
    fn index_mut(&mut self, a: Acct) -> &mut Account {
        &mut self.accounts[a.index()]
    }
}
