//! `state_digest()`: one hash over the set's ids and everything derived from it. Two
//! nodes holding the same set show the same digest, bit for bit. O(n) to compute.

use super::{Ledger, Parent, RecordSet};

impl<S: RecordSet> Ledger<S> {
    /// BLAKE3 over ids with statuses, every account's derived state, and the conflicts.
    pub fn state_digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"meshpay/state/v1");
        h.update(&self.chain_id.0);
        h.update(&(self.entries.len() as u64).to_le_bytes());
        for id in self.set.ids() {
            h.update(&id.0);
            let code = self.entries[&id].status.map_or(0xff, |s| s.code());
            h.update(&[code]);
        }
        let mut accounts: Vec<_> = self.accounts.iter().collect();
        accounts.sort_unstable_by_key(|a| a.key);
        for a in accounts {
            h.update(&a.key.0);
            let t = a.totals;
            for v in [t.stated, t.shortfall, t.incoming, t.debt] {
                h.update(&v.to_le_bytes());
            }
            h.update(&a.governing.map_or([0; 32], |g| g.0));
            h.update(&a.revoke_bound.map_or(u64::MAX, |b| b).to_le_bytes());
            h.update(&a.frontier.seq.to_le_bytes());
            match a.frontier.parent {
                Parent::Genesis => h.update(&[0]),
                Parent::Record(id) => h.update(&[1]).update(&id.0),
            };
            h.update(&[u8::from(a.frontier.forked)]);
        }
        for (account, seq) in &self.forks {
            h.update(&account.0);
            h.update(&seq.to_le_bytes());
        }
        *h.finalize().as_bytes()
    }
}
