//! What a store last committed of each partition's [parts](crate::keys#parts), so that a fold
//! step on PostgreSQL need not ask the database for them again.
//!
//! A step reads dozens of part rows (a merchant's payable and totals, the platform's accounts,
//! the day's report) that no prefetch can name before the fold has read the order, each a round
//! trip. But only the events of partition `p` write `p`'s parts, and every step that folds them
//! moves `p`'s checkpoint. So while `p`'s checkpoint is the one this store committed last,
//! nobody else has written `p`'s parts since, and the values this store read or wrote then
//! are still the committed ones. A step finding another checkpoint forgets what it knew of `p`.

use std::collections::{BTreeMap, HashMap};

use crate::backend::Write;
use crate::keys;

/// More rows than this, and the whole is forgotten (to be learnt again): a bound on memory,
/// far above what a day's parts of a shop take.
const MAX_ROWS: usize = 200_000;

/// What the store knows of each partition's parts, and at which checkpoint.
#[derive(Default)]
pub struct KnownParts {
    partitions: HashMap<u32, Known>,
    rows: usize,
}

struct Known {
    /// The partition's checkpoint after the commit that this knowledge is of.
    checkpoint: u64,
    rows: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

impl KnownParts {
    /// Forgets what is no longer true at `checkpoints` (the committed ones a step read): the
    /// partitions whose checkpoint moved since this store's last commit.
    pub fn keep_true(&mut self, checkpoints: &BTreeMap<u32, u64>) {
        self.partitions
            .retain(|partition, known| checkpoints.get(partition) == Some(&known.checkpoint));
        self.rows = self.partitions.values().map(|k| k.rows.len()).sum();
    }

    /// The committed value of a part's row (`Some(None)`: absent), when known.
    pub fn get(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        if !keys::is_part(key) {
            return None;
        }
        self.partitions.get(&keys::part(key)?)?.rows.get(key)
    }

    /// Learns what a step that began at checkpoints `began` (after [`keep_true`]) and
    /// committed them as `ended` read and wrote of the parts.
    ///
    /// [`keep_true`]: KnownParts::keep_true
    pub fn learn(
        &mut self,
        began: &BTreeMap<u32, u64>,
        ended: &BTreeMap<u32, u64>,
        read: HashMap<Vec<u8>, Option<Vec<u8>>>,
        writes: &[Write],
    ) {
        for (partition, checkpoint) in ended {
            let known = self.partitions.entry(*partition).or_insert_with(|| Known {
                checkpoint: *checkpoint,
                rows: HashMap::new(),
            });
            if began.get(partition) != Some(&known.checkpoint) {
                known.rows.clear();
            }
            known.checkpoint = *checkpoint;
        }
        let written = writes
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()));
        for (key, value) in read.into_iter().chain(written) {
            let Some(known) = keys::part(&key)
                .filter(|_| keys::is_part(&key))
                .and_then(|partition| self.partitions.get_mut(&partition))
            else {
                continue;
            };
            known.rows.insert(key, value);
        }
        self.rows = self.partitions.values().map(|k| k.rows.len()).sum();
        if self.rows > MAX_ROWS {
            self.partitions.clear();
            self.rows = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_events::money::Currency;

    fn account(part: u32) -> Vec<u8> {
        keys::account(Currency::EUR, "platform_commission_revenue", part)
    }

    #[test]
    fn a_part_is_known_while_its_partition_stays_where_this_store_left_it() {
        let mut known = KnownParts::default();
        let at = BTreeMap::from([(0, 10), (1, 20)]);
        let read = HashMap::from([(account(0), Some(b"read".to_vec())), (account(1), None)]);
        let writes = vec![(account(1), Some(b"written".to_vec()))];
        known.learn(&BTreeMap::new(), &at, read, &writes);
        assert_eq!(known.get(&account(0)), Some(&Some(b"read".to_vec())));
        assert_eq!(known.get(&account(1)), Some(&Some(b"written".to_vec())));
        // Another process folded partition 1 on: what this store knew of it is stale.
        known.keep_true(&BTreeMap::from([(0, 10), (1, 25)]));
        assert_eq!(known.get(&account(0)), Some(&Some(b"read".to_vec())));
        assert_eq!(known.get(&account(1)), None);
    }

    #[test]
    fn rows_that_are_no_parts_are_never_known() {
        let mut known = KnownParts::default();
        let order = keys::order(keys::ORDER, uuid::Uuid::nil());
        let at = BTreeMap::from([(0, 1)]);
        known.learn(&at, &at, HashMap::new(), &[(order.clone(), Some(vec![1]))]);
        assert_eq!(known.get(&order), None);
    }

    #[test]
    fn a_partition_moved_by_this_store_keeps_what_it_wrote_at_the_new_checkpoint() {
        let mut known = KnownParts::default();
        let (at_10, at_12) = (BTreeMap::from([(0, 10)]), BTreeMap::from([(0, 12)]));
        let bank = keys::account(Currency::EUR, "bank", 0);
        let read = HashMap::from([(account(0), None), (bank.clone(), None)]);
        known.learn(&BTreeMap::new(), &at_10, read, &[]);
        known.keep_true(&at_10);
        known.learn(
            &at_10,
            &at_12,
            HashMap::new(),
            &[(account(0), Some(vec![7]))],
        );
        known.keep_true(&at_12);
        assert_eq!(known.get(&account(0)), Some(&Some(vec![7])));
        // Read before and not written since: still true.
        assert_eq!(known.get(&bank), Some(&None));
    }
}
