//! The groups of a grouped statement, found by key when an event arrives and
//! by slot afterwards.
//!
//! A group's key and state sit together in one hash table bucket, so an
//! arrival's look-up reads the table's control bytes and that bucket, and
//! nothing else (an `IndexMap` reads a third place, its index array, between
//! the two: one more cache miss per event once the groups outgrow the cache).
//! A group keeps its slot while it lives; slots name groups in a step's list
//! of changed groups and in the entries of compact windows, and lead to the
//! group's bucket through `buckets`. The groups are also listed in an order
//! (first seen; a removed group's place goes to the last one, as
//! `IndexMap::swap_remove` does), which snapshots and checkpoints follow.
use std::borrow::Cow;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use indexmap::Equivalent;

use super::Group;
use crate::value::Value;
use crate::window::{GroupKey, KeyOne, KeyRef};

#[derive(Debug, Default, Clone)]
pub(super) struct GroupTable {
    table: HashTable<Entry>,
    /// Slot -> the bucket of its group in `table` (`FREE` for a free slot).
    buckets: Vec<u32>,
    /// Free slots, reused before new ones.
    free: Vec<u32>,
    /// Slots in listing order.
    order: Vec<u32>,
    hasher: foldhash::fast::RandomState,
}

#[derive(Debug, Clone)]
struct Entry {
    key: GroupKey,
    group: Group,
    slot: u32,
    /// The group's place in [`GroupTable::order`].
    place: u32,
}

const FREE: u32 = u32::MAX;

/// A group just found or added: its slot, and its bucket for the accesses
/// that follow at once (a look-up by slot reads `buckets` first, a cache
/// miss of its own once there are many groups). The bucket is valid until
/// the next group is added or removed.
#[derive(Debug, Clone, Copy)]
pub(super) struct GroupAt {
    pub slot: u32,
    bucket: u32,
}

impl GroupTable {
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// The group whose key is the one value `value`.
    pub(super) fn find_one(&self, value: &Value) -> Option<GroupAt> {
        let key = KeyOne(value);
        self.find(self.hasher.hash_one(&key), |k| key.equivalent(k))
    }

    /// The group whose key has `values`.
    pub(super) fn find_values(&self, values: &[Cow<'_, Value>]) -> Option<GroupAt> {
        let key = KeyRef(values);
        self.find(self.hasher.hash_one(&key), |k| key.equivalent(k))
    }

    /// The slot of the group with `key`.
    pub(super) fn find_key(&self, key: &GroupKey) -> Option<u32> {
        self.find(self.hasher.hash_one(key), |k| k == key)
            .map(|at| at.slot)
    }

    fn find(&self, hash: u64, mut eq: impl FnMut(&GroupKey) -> bool) -> Option<GroupAt> {
        let bucket = self.table.find_bucket_index(hash, |e| eq(&e.key))?;
        let slot = self.table.get_bucket(bucket)?.slot;
        Some(GroupAt {
            slot,
            bucket: bucket as u32,
        })
    }

    /// Adds a group (its key must be new).
    pub(super) fn insert(&mut self, key: GroupKey, group: Group) -> GroupAt {
        let hasher = &self.hasher;
        let rehash = |e: &Entry| hasher.hash_one(&e.key);
        if self.table.capacity() == self.table.len() {
            // Growing moves every bucket: find them again afterwards. With
            // room left, inserting moves none.
            self.table.reserve(1, rehash);
            renumber(&self.table, &mut self.buckets);
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.buckets.push(FREE);
                (self.buckets.len() - 1) as u32
            }
        };
        let place = self.order.len() as u32;
        self.order.push(slot);
        let hash = self.hasher.hash_one(&key);
        let entry = Entry {
            key,
            group,
            slot,
            place,
        };
        // Room is reserved above: `rehash` is never called here.
        let bucket = self.table.insert_unique(hash, entry, rehash).bucket_index();
        self.buckets[slot as usize] = bucket as u32;
        GroupAt {
            slot,
            bucket: bucket as u32,
        }
    }

    /// Takes the group in `slot` out; its slot is free for a new group, and
    /// the last listed group takes its place in the listing.
    pub(super) fn remove(&mut self, slot: u32) -> Option<(GroupKey, Group)> {
        let bucket = *self.buckets.get(slot as usize)?;
        let entry = self.table.get_bucket_entry(bucket as usize).ok()?;
        let (gone, _) = entry.remove();
        self.buckets[slot as usize] = FREE;
        self.free.push(slot);
        let place = gone.place as usize;
        self.order.swap_remove(place);
        if let Some(&moved) = self.order.get(place)
            && let Some(e) = self.entry_mut(moved)
        {
            e.place = place as u32;
        }
        Some((gone.key, gone.group))
    }

    /// The group in `slot`, for the accesses that follow at once.
    pub(super) fn locate(&self, slot: u32) -> Option<GroupAt> {
        let bucket = *self.buckets.get(slot as usize)?;
        (bucket != FREE).then_some(GroupAt { slot, bucket })
    }

    fn entry(&self, slot: u32) -> Option<&Entry> {
        let bucket = *self.buckets.get(slot as usize)?;
        self.table.get_bucket(bucket as usize)
    }

    fn entry_mut(&mut self, slot: u32) -> Option<&mut Entry> {
        let bucket = *self.buckets.get(slot as usize)?;
        self.table.get_bucket_mut(bucket as usize)
    }

    /// The key and group just found or added.
    pub(super) fn at(&self, at: GroupAt) -> Option<(&GroupKey, &Group)> {
        let e = self.table.get_bucket(at.bucket as usize)?;
        debug_assert_eq!(
            e.slot, at.slot,
            "a group's bucket used after the table changed"
        );
        Some((&e.key, &e.group))
    }

    pub(super) fn at_mut(&mut self, at: GroupAt) -> Option<&mut Group> {
        let e = self.table.get_bucket_mut(at.bucket as usize)?;
        debug_assert_eq!(
            e.slot, at.slot,
            "a group's bucket used after the table changed"
        );
        Some(&mut e.group)
    }

    /// The key and group in `slot`, if it is live.
    pub(super) fn get(&self, slot: u32) -> Option<(&GroupKey, &Group)> {
        self.entry(slot).map(|e| (&e.key, &e.group))
    }

    pub(super) fn group(&self, slot: u32) -> Option<&Group> {
        self.entry(slot).map(|e| &e.group)
    }

    pub(super) fn group_mut(&mut self, slot: u32) -> Option<&mut Group> {
        self.entry_mut(slot).map(|e| &mut e.group)
    }

    /// The group with `key`.
    pub(super) fn get_by_key(&self, key: &GroupKey) -> Option<&Group> {
        self.find_key(key).and_then(|slot| self.group(slot))
    }

    /// The groups in listing order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&GroupKey, &Group)> {
        self.order.iter().filter_map(|&slot| self.get(slot))
    }

    /// The place of the group in `slot` in the listing (its position in a
    /// checkpoint).
    pub(super) fn place(&self, slot: u32) -> Option<u32> {
        self.entry(slot).map(|e| e.place)
    }

    /// The slot of the group listed at `place`.
    pub(super) fn slot_at(&self, place: u32) -> Option<u32> {
        self.order.get(place as usize).copied()
    }
}

/// Points every slot at its group's bucket again, after the table grew.
fn renumber(table: &HashTable<Entry>, buckets: &mut [u32]) {
    for bucket in table.iter_buckets() {
        if let Some(e) = table.get_bucket(bucket) {
            buckets[e.slot as usize] = bucket as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::AggRow;
    use crate::schema::{EventType, TypeId};
    use crate::time::EventTime;
    use std::collections::HashMap;
    use std::sync::Arc;

    fn group() -> Group {
        Group {
            aggs: AggRow::new(&[]),
            representative: Arc::new(crate::event::Event {
                ty: Arc::new(EventType::new(TypeId(0), "T".into(), Vec::new(), None)),
                time: EventTime(0),
                seq: 0,
                fields: Default::default(),
            }),
            touched: (0, 0),
        }
    }

    fn key(n: i64) -> GroupKey {
        GroupKey(smallvec::smallvec![Value::Int(n)])
    }

    /// Groups come and go through several growths of the table: every slot
    /// still leads to its own group, look-ups by key find it, and the
    /// listing is the one an `IndexMap` with `swap_remove` keeps.
    #[test]
    fn slots_survive_growth_and_removal() {
        let mut table = GroupTable::default();
        let mut model: indexmap::IndexMap<i64, ()> = indexmap::IndexMap::new();
        let mut slots: HashMap<i64, u32> = HashMap::new();
        for n in 0..5_000i64 {
            let at = table.insert(key(n), group());
            assert_eq!(table.at(at).map(|(k, _)| k.clone()), Some(key(n)));
            let slot = at.slot;
            slots.insert(n, slot);
            model.insert(n, ());
            if n % 3 == 0 {
                let gone = n / 2;
                if let Some(slot) = slots.remove(&gone) {
                    let (k, _) = table.remove(slot).expect("live group");
                    assert_eq!(k, key(gone));
                    model.swap_remove(&gone);
                    assert!(table.get(slot).is_none());
                    assert!(table.locate(slot).is_none());
                }
            }
        }
        assert_eq!(table.len(), slots.len());
        for (n, slot) in &slots {
            assert_eq!(table.get(*slot).map(|(k, _)| k.clone()), Some(key(*n)));
            let found = table.find_one(&Value::Int(*n)).expect("found");
            assert_eq!(found.slot, *slot);
            assert_eq!(table.at(found).map(|(k, _)| k.clone()), Some(key(*n)));
            assert_eq!(table.find_key(&key(*n)), Some(*slot));
            let located = table.locate(*slot).expect("live slot");
            assert_eq!(table.at(located).map(|(k, _)| k.clone()), Some(key(*n)));
            let place = table.place(*slot).expect("listed");
            assert_eq!(table.slot_at(place), Some(*slot));
        }
        let listed: Vec<GroupKey> = table.iter().map(|(k, _)| k.clone()).collect();
        let expected: Vec<GroupKey> = model.keys().map(|n| key(*n)).collect();
        assert_eq!(listed, expected);
        assert!(table.find_one(&Value::Int(-1)).is_none());
    }
}
