//! Event types: declared by `create schema` or derived from an `insert into` select list.
use std::collections::HashMap;
use std::sync::Arc;

use crate::value::Type;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(pub u32);

#[derive(Debug, Clone)]
pub struct FieldInfo {
    pub name: String,
    pub ty: Type,
}

#[derive(Debug)]
pub struct EventType {
    pub id: TypeId,
    pub name: String,
    pub fields: Vec<FieldInfo>,
    /// Index of the field holding the event's time (`starttimestamp`), if declared.
    pub timestamp: Option<usize>,
    index: HashMap<String, usize>,
}

impl EventType {
    pub fn new(id: TypeId, name: String, fields: Vec<FieldInfo>, timestamp: Option<usize>) -> Self {
        let index = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        EventType {
            id,
            name,
            fields,
            timestamp,
            index,
        }
    }
    pub fn field(&self, name: &str) -> Option<usize> {
        // Decoding looks up every key of every event: for the usual handful of
        // fields a scan beats hashing the key.
        if self.fields.len() <= 12 {
            return self.fields.iter().position(|f| f.name == name);
        }
        self.index.get(name).copied()
    }
    /// The declared field whose name is closest to `name`, for "did you mean" help.
    pub fn closest_field(&self, name: &str) -> Option<&str> {
        closest(name, self.fields.iter().map(|f| f.name.as_str()))
    }
}

/// All event types known to an engine, by name.
#[derive(Debug, Default, Clone)]
pub struct TypeRegistry {
    types: Vec<Arc<EventType>>,
    by_name: HashMap<String, TypeId>,
}

impl TypeRegistry {
    pub fn get(&self, name: &str) -> Option<&Arc<EventType>> {
        self.by_name.get(name).map(|id| &self.types[id.0 as usize])
    }
    pub fn by_id(&self, id: TypeId) -> &Arc<EventType> {
        &self.types[id.0 as usize]
    }
    pub fn len(&self) -> usize {
        self.types.len()
    }
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Arc<EventType>> {
        self.types.iter()
    }
    pub fn add(
        &mut self,
        name: &str,
        fields: Vec<FieldInfo>,
        timestamp: Option<usize>,
    ) -> Arc<EventType> {
        let id = TypeId(self.types.len() as u32);
        let ty = Arc::new(EventType::new(id, name.to_string(), fields, timestamp));
        self.types.push(ty.clone());
        self.by_name.insert(name.to_string(), id);
        ty
    }
    pub fn closest_type(&self, name: &str) -> Option<&str> {
        closest(name, self.types.iter().map(|t| t.name.as_str()))
    }
}

/// The candidate with the smallest edit distance, if it is plausibly a typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
