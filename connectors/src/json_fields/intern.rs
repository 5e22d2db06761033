//! String values of decoded events, through a small two-way cache per field
//! of each type. A value holds up to 23 bytes inline (ids, tokens: no
//! allocation, no pointer to follow when a group key is compared); the
//! cache spares those the UTF-8 check and the copy, and shares longer ones
//! up to [`INTERN_MAX_LEN`] bytes.
//!
//! A string's bytes pick one set of two slots of its field's cache; when a
//! slot holds the same bytes the string is shared (one atomic increment: no
//! allocation, no UTF-8 check), otherwise a new string replaces the less
//! recently used one. Memory is bounded by construction (at most
//! [`CACHE_SLOTS`] strings of at most [`INTERN_MAX_LEN`] bytes per field), no
//! table grows or is cleared, and a field whose values repeat only in part
//! (wallets over a heavy-tailed population) still shares its frequent ones.
//! Equal shared strings compare by pointer in the engine (group keys,
//! `token = a.token`).
use std::sync::Arc;

use cepheus_engine::EventType;
use smol_str::SmolStr;

use super::layout::Layout;

/// Longest string a value holds inline (`SmolStr`'s inline capacity).
#[cfg(test)]
pub(crate) const INLINE_MAX_LEN: usize = 23;

/// Longest string shared; longer ones are unlikely to repeat.
pub(crate) const INTERN_MAX_LEN: usize = 32;
/// log2 of [`CACHE_SLOTS`].
const CACHE_BITS: u32 = 12;
/// Slots of one field's cache (sets of two): 64 KiB of slots, allocated on
/// the field's first string.
pub(crate) const CACHE_SLOTS: usize = 1 << CACHE_BITS;

/// Short strings decoded by one decoder, shared per (event type, field).
#[derive(Debug, Default)]
pub struct Interner {
    /// Per event type id.
    types: Vec<TypeStrings>,
}

/// What the decoder keeps per event type.
#[derive(Debug, Default)]
pub(crate) struct TypeStrings {
    /// The type these are for (a type id of another registry starts over).
    ty: Option<Arc<EventType>>,
    /// No field name has a byte that ends a plain JSON string (`"`, `\`, a
    /// control character): a name found verbatim before a quote is that key.
    pub(crate) plain_names: bool,
    /// Per field.
    pub(crate) fields: Box<[FieldCache]>,
    /// The shape learned from the type's lines (see [`Layout`]).
    pub(crate) layout: Layout,
}

/// The cache of one field.
#[derive(Debug, Default)]
pub(crate) struct FieldCache {
    /// Empty until the field's first string, then [`CACHE_SLOTS`] long.
    slots: Box<[Option<SmolStr>]>,
}

impl Interner {
    /// The caches of type `ty`.
    #[inline]
    pub(crate) fn of_type(&mut self, ty: &Arc<EventType>) -> &mut TypeStrings {
        let t = ty.id.0 as usize;
        if self.types.len() <= t {
            self.types.resize_with(t + 1, TypeStrings::default);
        }
        let strings = &mut self.types[t];
        if !strings
            .ty
            .as_ref()
            .is_some_and(|known| Arc::ptr_eq(known, ty))
        {
            *strings = TypeStrings {
                ty: Some(ty.clone()),
                plain_names: ty
                    .fields
                    .iter()
                    .all(|f| f.name.bytes().all(|b| b != b'"' && b != b'\\' && b >= 0x20)),
                fields: ty.fields.iter().map(|_| FieldCache::default()).collect(),
                layout: Layout::default(),
            };
        }
        strings
    }

    /// The value of `s`, a string of field `field` of type `ty`.
    pub fn intern_field(&mut self, ty: &Arc<EventType>, field: usize, s: &str) -> SmolStr {
        self.of_type(ty).fields[field]
            .intern(s.as_bytes(), || Some(s))
            .unwrap_or_else(|| SmolStr::new(s))
    }
}

impl FieldCache {
    /// The shared copy of `bytes`; `checked` gives them as a `str` (or `None`
    /// when they are not UTF-8), called only when they are not in the cache.
    #[inline]
    pub(crate) fn intern<'a>(
        &mut self,
        bytes: &[u8],
        checked: impl FnOnce() -> Option<&'a str>,
    ) -> Option<SmolStr> {
        if bytes.len() > INTERN_MAX_LEN {
            return checked().map(SmolStr::new);
        }
        if self.slots.is_empty() {
            self.slots = vec![None; CACHE_SLOTS].into_boxed_slice();
        }
        // Two ways per set, the more recently used first: two strings that
        // land in one set both stay.
        let set = set_of(bytes);
        let ways = &mut self.slots[2 * set..2 * set + 2];
        if let Some(s) = &ways[0]
            && short_eq(s.as_bytes(), bytes)
        {
            return Some(s.clone());
        }
        if let Some(s) = &ways[1]
            && short_eq(s.as_bytes(), bytes)
        {
            let s = s.clone();
            ways.swap(0, 1);
            return Some(s);
        }
        let s = SmolStr::new(checked()?);
        ways[1] = ways[0].replace(s.clone());
        Some(s)
    }
}

#[inline(always)]
fn read8(b: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline(always)]
fn read4(b: &[u8], at: usize) -> u64 {
    let mut w = [0; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u64::from(u32::from_le_bytes(w))
}

/// `a == b`, without a call to `memcmp` for up to [`INTERN_MAX_LEN`] bytes.
#[inline(always)]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() <= INTERN_MAX_LEN {
        short_eq(a, b)
    } else {
        a == b
    }
}

/// `a == b` for strings of at most [`INTERN_MAX_LEN`] bytes, by the words
/// [`hash`] reads (no call to `memcmp`).
#[inline(always)]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        read8(a, 0) == read8(b, 0)
            && read8(a, n - 8) == read8(b, n - 8)
            && (n <= 16 || (read8(a, 8) == read8(b, 8) && read8(a, n - 16) == read8(b, n - 16)))
    } else if n >= 4 {
        read4(a, 0) == read4(b, 0) && read4(a, n - 4) == read4(b, n - 4)
    } else {
        // Up to three bytes: the first, middle and last are all of them.
        n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1])
    }
}

/// The set of `b` (at most [`INTERN_MAX_LEN`] bytes): the top bits of its hash.
#[inline(always)]
fn set_of(b: &[u8]) -> usize {
    (hash(b) >> (64 - CACHE_BITS + 1)) as usize
}

/// A hash of `b` (at most [`INTERN_MAX_LEN`] bytes): every byte is read, in
/// at most four overlapping words, folded by one wide multiply (as foldhash
/// does).
#[inline(always)]
fn hash(b: &[u8]) -> u64 {
    const K0: u64 = 0x243f_6a88_85a3_08d3;
    const K1: u64 = 0x1319_8a2e_0370_7344;
    let n = b.len();
    let (x, y) = if n >= 8 {
        let (mut x, mut y) = (read8(b, 0), read8(b, n - 8));
        if n > 16 {
            x ^= read8(b, 8).rotate_left(32);
            y ^= read8(b, n - 16).rotate_left(32);
        }
        (x, y)
    } else if n >= 4 {
        (read4(b, 0), read4(b, n - 4))
    } else if n > 0 {
        let x = u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16;
        (x, 0)
    } else {
        (0, 0)
    };
    let m = u128::from(x ^ K0) * u128::from(y ^ K1 ^ n as u64);
    (m as u64) ^ ((m >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache's copy of `s`, as the `Arc` it shares (strings past the
    /// inline length: those that have an allocation to share).
    fn intern(c: &mut FieldCache, s: &str) -> Arc<str> {
        assert!(s.len() > INLINE_MAX_LEN, "{s} would be inline");
        Arc::from(c.intern(s.as_bytes(), || Some(s)).expect("valid UTF-8"))
    }

    /// A string of `n` past the inline length.
    fn mid(n: usize) -> String {
        format!("0x{n:022x}")
    }

    #[test]
    fn equal_strings_share_one_allocation() {
        let mut c = FieldCache::default();
        let a = intern(&mut c, &mid(1));
        let b = intern(&mut c, &mid(1));
        assert!(Arc::ptr_eq(&a, &b));
        let long = "x".repeat(INTERN_MAX_LEN + 1);
        let l = intern(&mut c, &long);
        assert_eq!(*l, *long);
        assert_eq!(Arc::strong_count(&l), 1, "long strings are not kept");
    }

    #[test]
    fn colliding_strings_replace_each_other_and_stay_right() {
        // Three strings of one set: two fit, the third evicts the least
        // recently used.
        let mut by_set = std::collections::HashMap::<_, Vec<String>>::new();
        let three = (0..)
            .map(mid)
            .find_map(|s| {
                let same = by_set.entry(set_of(s.as_bytes())).or_default();
                same.push(s);
                (same.len() == 3).then(|| same.clone())
            })
            .expect("a three-way collision among 2^32 strings");
        let [a, b, x] = [0, 1, 2].map(|i| three[i].as_str());
        let mut c = FieldCache::default();
        let a1 = intern(&mut c, a);
        let b1 = intern(&mut c, b);
        assert!(Arc::ptr_eq(&a1, &intern(&mut c, a)), "both fit in a set");
        assert!(Arc::ptr_eq(&b1, &intern(&mut c, b)));
        // `a` was used less recently than `b`: `x` replaces it.
        let x1 = intern(&mut c, x);
        assert_eq!((&*a1, &*b1, &*x1), (a, b, x));
        assert_eq!(Arc::strong_count(&a1), 1, "evicted, not kept");
        assert_eq!(Arc::strong_count(&b1), 2);
        assert_eq!(Arc::strong_count(&x1), 2);
        let a2 = intern(&mut c, a);
        assert!(!Arc::ptr_eq(&a1, &a2));
        assert_eq!(&*a2, a);
        assert_eq!(Arc::strong_count(&b1), 1, "`b` was the least recently used");
        assert!(Arc::ptr_eq(&x1, &intern(&mut c, x)));
    }

    #[test]
    fn memory_is_bounded() {
        let mut c = FieldCache::default();
        let kept: Vec<_> = (0..20 * CACHE_SLOTS)
            .map(|i| intern(&mut c, &mid(i)))
            .collect();
        assert_eq!(c.slots.len(), CACHE_SLOTS);
        let shared = kept.iter().filter(|s| Arc::strong_count(s) > 1).count();
        assert!(shared <= CACHE_SLOTS, "{shared}");
    }

    #[test]
    fn invalid_utf8_is_not_interned() {
        let mut c = FieldCache::default();
        assert!(c.intern(b"\xff", || None).is_none());
        let s = intern(&mut c, &mid(7));
        assert_eq!(*s, *mid(7));
    }

    #[test]
    fn short_eq_is_eq() {
        for n in 0..=INTERN_MAX_LEN {
            let base = vec![b'a'; n];
            assert!(short_eq(&base, &base));
            assert!(!short_eq(&base, &vec![b'a'; n + 1]));
            for i in 0..n {
                let mut b = base.clone();
                b[i] = b'b';
                assert!(!short_eq(&base, &b), "length {n}, byte {i}");
            }
        }
    }

    #[test]
    fn the_hash_reads_every_byte() {
        for n in 1..=INTERN_MAX_LEN {
            let base = vec![b'a'; n];
            for i in 0..n {
                let mut b = base.clone();
                b[i] = b'b';
                assert_ne!(hash(&b), hash(&base), "length {n}, byte {i}");
            }
        }
    }
}
