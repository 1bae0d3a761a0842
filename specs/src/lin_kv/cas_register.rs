//! Knossos's `cas-register` model, the one Maelstrom's lin-kv checks each
//! key against: a register that may be missing, read, written, and
//! compare-and-set. Values are interned as small numbers ([`Values`]), so
//! states hash cheaply and any JSON value works.

use std::collections::HashMap;

use serde_json::Value;

use super::linearizable::Model;

/// A value, by its number in [`Values`].
pub type ValueId = u32;

/// What a register operation did, with what it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOp {
    /// A read that returned this value (`None`: the key did not exist, or
    /// `null`).
    Read(Option<ValueId>),
    Write(ValueId),
    /// A compare-and-set that succeeded (failed ones did not happen).
    Cas {
        from: ValueId,
        to: ValueId,
    },
}

/// The register: its state is its value, `None` while the key is missing.
pub struct CasRegister;

impl Model for CasRegister {
    type State = Option<ValueId>;
    type Op = RegisterOp;

    fn step(&self, state: &Option<ValueId>, op: &RegisterOp) -> Option<Option<ValueId>> {
        match *op {
            RegisterOp::Read(seen) => (seen == *state).then_some(*state),
            RegisterOp::Write(v) => Some(Some(v)),
            RegisterOp::Cas { from, to } => (*state == Some(from)).then_some(Some(to)),
        }
    }

    fn changes_nothing(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read(_))
    }
}

/// The JSON values of one key's history, numbered (equal by value:
/// serde_json's text of a value is canonical, object keys sorted).
#[derive(Debug, Default)]
pub struct Values {
    ids: HashMap<String, ValueId>,
    texts: Vec<String>,
}

impl Values {
    /// The value's number; JSON `null` is no value (`None`), as a read of a
    /// missing key.
    pub fn id(&mut self, value: &Value) -> Option<ValueId> {
        if value.is_null() {
            return None;
        }
        let text = value.to_string();
        if let Some(id) = self.ids.get(&text) {
            return Some(*id);
        }
        let id = self.texts.len() as ValueId;
        self.ids.insert(text.clone(), id);
        self.texts.push(text);
        Some(id)
    }

    /// Every state a register of these values can be in: missing, each
    /// value, and one value that none of them is (it behaves as any other
    /// value never mentioned).
    pub fn all_states(&self) -> Vec<Option<ValueId>> {
        let mut states = vec![None];
        states.extend((0..self.texts.len() as ValueId).map(Some));
        states.push(Some(ValueId::MAX));
        states
    }

    /// In words, for explanations.
    pub fn text(&self, id: Option<ValueId>) -> &str {
        match id {
            None => "nothing (missing)",
            Some(id) => self
                .texts
                .get(id as usize)
                .map_or("another value", String::as_str),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_register_reads_writes_and_cases() {
        let r = CasRegister;
        assert_eq!(r.step(&None, &RegisterOp::Read(None)), Some(None));
        assert_eq!(r.step(&None, &RegisterOp::Read(Some(1))), None);
        assert_eq!(r.step(&Some(2), &RegisterOp::Write(3)), Some(Some(3)));
        let cas = RegisterOp::Cas { from: 3, to: 4 };
        assert_eq!(r.step(&Some(3), &cas), Some(Some(4)));
        assert_eq!(r.step(&Some(2), &cas), None);
        assert_eq!(r.step(&None, &cas), None, "a missing key is no value");
    }

    #[test]
    fn values_are_equal_by_value() {
        let mut v = Values::default();
        let a = v.id(&serde_json::json!({"a": 1, "b": 2}));
        let b = v.id(&serde_json::json!({"b": 2, "a": 1}));
        assert_eq!(a, b);
        assert_eq!(v.id(&Value::Null), None);
        assert_eq!(v.all_states().len(), 3, "missing, the value, another");
    }
}
