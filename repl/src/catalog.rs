//! What the session knows by name (event types, their fields, running
//! statements), shared from the engine thread with the line editor for completion.
use std::sync::{Arc, Mutex};

use cepheus_engine::TypeRegistry;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    pub types: Vec<TypeInfo>,
    pub statements: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeInfo {
    pub name: String,
    /// Field names and type names (`long`, `string`...).
    pub fields: Vec<(String, &'static str)>,
}

/// The catalog as the engine thread last published it.
pub type SharedCatalog = Arc<Mutex<Catalog>>;

impl Catalog {
    pub fn from_registry(registry: &TypeRegistry, statements: Vec<String>) -> Catalog {
        let types = registry
            .iter()
            .map(|t| TypeInfo {
                name: t.name.clone(),
                fields: t
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), f.ty.name()))
                    .collect(),
            })
            .collect();
        Catalog { types, statements }
    }

    /// A copy of the shared catalog (empty if a panicking thread poisoned it).
    pub fn snapshot(shared: &SharedCatalog) -> Catalog {
        shared.lock().map(|c| c.clone()).unwrap_or_default()
    }
}
