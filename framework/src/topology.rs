//! The `topology` field of Maelstrom's broadcast `topology` message, as a
//! node that picks its own peers takes it: checked for shape (an object
//! from node id to a list of node ids), nothing kept.
//!
//! Maelstrom sends the whole map to every node, so a cluster of N nodes
//! parses N maps of N entries; this reads one without allocating a string
//! for any of them (the check a `BTreeMap<String, Vec<String>>` made, with
//! serde's own error texts).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A topology of the right shape, its contents dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopologyShape;

impl<'de> Deserialize<'de> for TopologyShape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(Shape(Kind::Map))
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Map,
    List,
    Str,
}

/// A visitor that accepts one kind of value and keeps nothing.
#[derive(Clone, Copy)]
struct Shape(Kind);

impl<'de> serde::de::DeserializeSeed<'de> for Shape {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.0 {
            Kind::Map => deserializer.deserialize_map(self),
            Kind::List => deserializer.deserialize_seq(self),
            Kind::Str => deserializer.deserialize_str(self),
        }
        .map(|_| ())
    }
}

impl<'de> Visitor<'de> for Shape {
    type Value = TopologyShape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self.0 {
            Kind::Map => "a map",
            Kind::List => "a sequence",
            Kind::Str => "a string",
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopologyShape, A::Error> {
        if !matches!(self.0, Kind::Map) {
            return Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Map,
                &self,
            ));
        }
        while map.next_key_seed(Shape(Kind::Str))?.is_some() {
            map.next_value_seed(Shape(Kind::List))?;
        }
        Ok(TopologyShape)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopologyShape, A::Error> {
        if !matches!(self.0, Kind::List) {
            return Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Seq,
                &self,
            ));
        }
        while seq.next_element_seed(Shape(Kind::Str))?.is_some() {}
        Ok(TopologyShape)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<TopologyShape, E> {
        match self.0 {
            Kind::Str => Ok(TopologyShape),
            _ => Err(E::invalid_type(serde::de::Unexpected::Str(text), &self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Accepts and refuses exactly what the map type did, with its errors.
    #[test]
    fn checks_the_shape_a_map_of_lists_of_strings_checks() {
        let cases = [
            r#"{}"#,
            r#"{"n0": ["n1", "n2"], "n1": [], "n\u00e9": ["n\"0"]}"#,
            r#"[]"#,
            r#""n0""#,
            r#"{"n0": "n1"}"#,
            r#"{"n0": [1]}"#,
            r#"{"n0": [["n1"]]}"#,
            r#"{"n0": {"n1": []}}"#,
            r#"{"n0": null}"#,
            r#"null"#,
            r#"{"n0": ["n1"]"#,
            r#"{"n0": ["n1",]}"#,
        ];
        for text in cases {
            let ours = serde_json::from_str::<TopologyShape>(text).map_err(|e| e.to_string());
            let map = serde_json::from_str::<BTreeMap<String, Vec<String>>>(text)
                .map(|_| TopologyShape)
                .map_err(|e| e.to_string());
            assert_eq!(ours, map, "{text}");
        }
    }
}
