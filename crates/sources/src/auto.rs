//! The `auto` decoder: hands each item to the first decoder that recognizes its format.
//! Guesses nothing itself; an item no decoder recognizes is an error naming the keys it saw.

use crate::json::{kind_of, Keys, Node};
use crate::registry::RECOGNITION_ORDER;
use crate::{DecodeError, Decoded, Decoder};
use serde_json::Value;

pub(crate) struct Auto;

const MAX_KEYS_SHOWN: usize = 20;

impl Decoder for Auto {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn recognizes(&self, item: &Value) -> bool {
        RECOGNITION_ORDER.iter().any(|d| d.recognizes(item))
    }

    fn decode(&self, item: &Value) -> Result<Decoded, DecodeError> {
        if let Some(d) = RECOGNITION_ORDER.iter().find(|d| d.recognizes(item)) {
            return d.decode(item);
        }
        let root = Node::root(item, Keys::Exact);
        if !root.is_object() {
            return Err(root.error(format!(
                "no decoder recognizes this payload: expected an object, found {}",
                kind_of(item)
            )));
        }
        let keys = root.key_list();
        let mut shown: Vec<String> = keys
            .iter()
            .take(MAX_KEYS_SHOWN)
            .map(|k| format!("{k:?}"))
            .collect();
        if keys.len() > MAX_KEYS_SHOWN {
            shown.push(format!("… {} more", keys.len() - MAX_KEYS_SHOWN));
        }
        let seen = if shown.is_empty() {
            "no keys".to_string()
        } else {
            format!("top-level keys: {}", shown.join(", "))
        };
        Err(root.error(format!(
            "no decoder recognizes this payload ({seen}); name the source in the URL instead of auto"
        )))
    }
}
